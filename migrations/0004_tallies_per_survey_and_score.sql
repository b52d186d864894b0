-- Surveys on several scales (smiley, csat 1-5, nps 0-10): the rollups count
-- answers per survey, scale and score instead of happy/sad, so every
-- survey's figures (happy %, CSAT %, NPS) and its distribution of answers
-- come from the same rows and two surveys are never counted together. The
-- scale (`kind`) is part of the key as well: a survey whose kind is changed
-- in the configuration starts a new series instead of mixing scales.
--
-- Same levels and rules as 0002/0003: UTC hours, days and 7-day units from
-- the epoch, per agent and queue ('' for none), plus `_all` tables over
-- everybody; valid on SQLite and PostgreSQL alike. The happy/sad rollups
-- are replaced (their rows are all smiley and are recounted here).

CREATE TABLE tally_hour (
    survey TEXT   NOT NULL,
    kind   TEXT   NOT NULL,
    bucket BIGINT NOT NULL,
    agent  TEXT   NOT NULL,
    queue  TEXT   NOT NULL,
    score  BIGINT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (survey, kind, bucket, agent, queue, score)
);
CREATE INDEX tally_hour_cover ON tally_hour (survey, kind, bucket, agent, queue, score, n);
CREATE INDEX tally_hour_agent ON tally_hour (survey, kind, agent, bucket, score, n, queue);
CREATE INDEX tally_hour_queue ON tally_hour (survey, kind, queue, bucket, score, n, agent);

CREATE TABLE tally_day (
    survey TEXT   NOT NULL,
    kind   TEXT   NOT NULL,
    bucket BIGINT NOT NULL,
    agent  TEXT   NOT NULL,
    queue  TEXT   NOT NULL,
    score  BIGINT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (survey, kind, bucket, agent, queue, score)
);
CREATE INDEX tally_day_cover ON tally_day (survey, kind, bucket, agent, queue, score, n);
CREATE INDEX tally_day_agent ON tally_day (survey, kind, agent, bucket, score, n, queue);
CREATE INDEX tally_day_queue ON tally_day (survey, kind, queue, bucket, score, n, agent);

CREATE TABLE tally_week (
    survey TEXT   NOT NULL,
    kind   TEXT   NOT NULL,
    bucket BIGINT NOT NULL,
    agent  TEXT   NOT NULL,
    queue  TEXT   NOT NULL,
    score  BIGINT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (survey, kind, bucket, agent, queue, score)
);
CREATE INDEX tally_week_cover ON tally_week (survey, kind, bucket, agent, queue, score, n);
CREATE INDEX tally_week_agent ON tally_week (survey, kind, agent, bucket, score, n, queue);
CREATE INDEX tally_week_queue ON tally_week (survey, kind, queue, bucket, score, n, agent);

CREATE TABLE tally_hour_all (
    survey TEXT   NOT NULL,
    kind   TEXT   NOT NULL,
    bucket BIGINT NOT NULL,
    score  BIGINT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (survey, kind, bucket, score)
);
CREATE INDEX tally_hour_all_cover ON tally_hour_all (survey, kind, bucket, score, n);

CREATE TABLE tally_day_all (
    survey TEXT   NOT NULL,
    kind   TEXT   NOT NULL,
    bucket BIGINT NOT NULL,
    score  BIGINT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (survey, kind, bucket, score)
);
CREATE INDEX tally_day_all_cover ON tally_day_all (survey, kind, bucket, score, n);

CREATE TABLE tally_week_all (
    survey TEXT   NOT NULL,
    kind   TEXT   NOT NULL,
    bucket BIGINT NOT NULL,
    score  BIGINT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (survey, kind, bucket, score)
);
CREATE INDEX tally_week_all_cover ON tally_week_all (survey, kind, bucket, score, n);

INSERT INTO tally_hour (survey, kind, bucket, agent, queue, score, n)
SELECT survey, kind, (created_at / 3600000) * 3600000, COALESCE(agent, ''), COALESCE(queue, ''),
       score, COUNT(*)
FROM measurements
GROUP BY survey, kind, (created_at / 3600000) * 3600000, COALESCE(agent, ''), COALESCE(queue, ''), score;

INSERT INTO tally_day (survey, kind, bucket, agent, queue, score, n)
SELECT survey, kind, (created_at / 86400000) * 86400000, COALESCE(agent, ''), COALESCE(queue, ''),
       score, COUNT(*)
FROM measurements
GROUP BY survey, kind, (created_at / 86400000) * 86400000, COALESCE(agent, ''), COALESCE(queue, ''), score;

INSERT INTO tally_week (survey, kind, bucket, agent, queue, score, n)
SELECT survey, kind, (created_at / 604800000) * 604800000, COALESCE(agent, ''), COALESCE(queue, ''),
       score, COUNT(*)
FROM measurements
GROUP BY survey, kind, (created_at / 604800000) * 604800000, COALESCE(agent, ''), COALESCE(queue, ''), score;

INSERT INTO tally_hour_all (survey, kind, bucket, score, n)
SELECT survey, kind, bucket, score, SUM(n) FROM tally_hour GROUP BY survey, kind, bucket, score;
INSERT INTO tally_day_all (survey, kind, bucket, score, n)
SELECT survey, kind, bucket, score, SUM(n) FROM tally_day GROUP BY survey, kind, bucket, score;
INSERT INTO tally_week_all (survey, kind, bucket, score, n)
SELECT survey, kind, bucket, score, SUM(n) FROM tally_week GROUP BY survey, kind, bucket, score;

DROP TABLE rollup_hour;
DROP TABLE rollup_day;
DROP TABLE rollup_week;
DROP TABLE rollup_hour_all;
DROP TABLE rollup_day_all;
DROP TABLE rollup_week_all;

-- Listing one survey's answers, and its unhappy callers with comments.
CREATE INDEX measurements_survey_created ON measurements (survey, created_at, id);
