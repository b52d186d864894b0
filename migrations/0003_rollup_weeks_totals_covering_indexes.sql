-- Faster figures: weekly rollups, rollups over everybody (one row per
-- bucket, for figures without an agent or queue filter), and covering
-- indexes so the rollups are read from their indexes alone. Weeks are
-- 7-day units counted from the epoch: a storage unit, not a calendar week.

CREATE TABLE rollup_week (
    bucket BIGINT NOT NULL,
    agent  TEXT   NOT NULL,
    queue  TEXT   NOT NULL,
    happy  BIGINT NOT NULL,
    sad    BIGINT NOT NULL,
    PRIMARY KEY (bucket, agent, queue)
);

DROP INDEX rollup_hour_agent;
DROP INDEX rollup_hour_queue;
DROP INDEX rollup_day_agent;
DROP INDEX rollup_day_queue;
CREATE TABLE rollup_hour_all (
    bucket BIGINT NOT NULL PRIMARY KEY,
    happy  BIGINT NOT NULL,
    sad    BIGINT NOT NULL
);
CREATE INDEX rollup_hour_all_cover ON rollup_hour_all (bucket, happy, sad);
CREATE INDEX rollup_hour_cover ON rollup_hour (bucket, agent, queue, happy, sad);
CREATE INDEX rollup_hour_agent ON rollup_hour (agent, bucket, happy, sad, queue);
CREATE INDEX rollup_hour_queue ON rollup_hour (queue, bucket, happy, sad, agent);

CREATE TABLE rollup_day_all (
    bucket BIGINT NOT NULL PRIMARY KEY,
    happy  BIGINT NOT NULL,
    sad    BIGINT NOT NULL
);
CREATE INDEX rollup_day_all_cover ON rollup_day_all (bucket, happy, sad);
CREATE INDEX rollup_day_cover ON rollup_day (bucket, agent, queue, happy, sad);
CREATE INDEX rollup_day_agent ON rollup_day (agent, bucket, happy, sad, queue);
CREATE INDEX rollup_day_queue ON rollup_day (queue, bucket, happy, sad, agent);

CREATE TABLE rollup_week_all (
    bucket BIGINT NOT NULL PRIMARY KEY,
    happy  BIGINT NOT NULL,
    sad    BIGINT NOT NULL
);
CREATE INDEX rollup_week_all_cover ON rollup_week_all (bucket, happy, sad);
CREATE INDEX rollup_week_cover ON rollup_week (bucket, agent, queue, happy, sad);
CREATE INDEX rollup_week_agent ON rollup_week (agent, bucket, happy, sad, queue);
CREATE INDEX rollup_week_queue ON rollup_week (queue, bucket, happy, sad, agent);

INSERT INTO rollup_week (bucket, agent, queue, happy, sad)
SELECT (created_at / 604800000) * 604800000, COALESCE(agent, ''), COALESCE(queue, ''),
       COUNT(CASE WHEN rating = 'happy' THEN 1 END), COUNT(CASE WHEN rating = 'sad' THEN 1 END)
FROM measurements WHERE kind = 'smiley'
GROUP BY (created_at / 604800000) * 604800000, COALESCE(agent, ''), COALESCE(queue, '');

INSERT INTO rollup_hour_all (bucket, happy, sad)
SELECT bucket, SUM(happy), SUM(sad) FROM rollup_hour GROUP BY bucket;
INSERT INTO rollup_day_all (bucket, happy, sad)
SELECT bucket, SUM(happy), SUM(sad) FROM rollup_day GROUP BY bucket;
INSERT INTO rollup_week_all (bucket, happy, sad)
SELECT bucket, SUM(happy), SUM(sad) FROM rollup_week GROUP BY bucket;
