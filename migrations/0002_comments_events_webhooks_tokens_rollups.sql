-- Recorded comments, the event log behind SSE and webhooks, webhook
-- deliveries (the outbox), API tokens, and hourly/daily rollups of the
-- ratings. Same rules as 0001: valid on SQLite and PostgreSQL alike,
-- BIGINT milliseconds, TEXT ids.

-- One voice comment per measurement. The row outlives the audio: erasure or
-- retention deletes the file and sets deleted_at/deleted_reason, the rating
-- stays. No foreign key: a comment may be stored before its rating leaves
-- the local journal.
CREATE TABLE comments (
    measurement_id TEXT   NOT NULL PRIMARY KEY,
    created_at     BIGINT NOT NULL,
    file_name      TEXT   NOT NULL,
    duration_ms    BIGINT NOT NULL,
    size_bytes     BIGINT NOT NULL,
    status         TEXT   NOT NULL,
    deleted_at     BIGINT NULL,
    deleted_reason TEXT   NULL
);

CREATE INDEX comments_created ON comments (created_at);

-- Every change the outside world may want to hear about, in commit order.
-- Ids are assigned as MAX(id)+1 inside the writing transaction while the
-- writer holds the database's write lock (SQLite) or an advisory lock
-- (PostgreSQL), so ids grow in commit order and "everything after id N" never
-- misses a row, even with several daemons on one PostgreSQL.
CREATE TABLE events (
    id         BIGINT NOT NULL PRIMARY KEY,
    created_at BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    subject_id TEXT   NOT NULL
);

-- Receivers of webhooks; from the configuration file (source 'config') or
-- the admin API (source 'api'). Inactive ones keep their delivery history.
CREATE TABLE webhooks (
    id         TEXT   NOT NULL PRIMARY KEY,
    url        TEXT   NOT NULL,
    secret     TEXT   NOT NULL,
    source     TEXT   NOT NULL,
    active     BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE UNIQUE INDEX webhooks_url ON webhooks (url);

-- The outbox: one row per (webhook, event), written in the same transaction
-- as the event, so a restart or a dead receiver loses nothing.
CREATE TABLE webhook_deliveries (
    webhook_id      TEXT   NOT NULL,
    event_id        BIGINT NOT NULL,
    status          TEXT   NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT NULL,
    last_attempt_at BIGINT NULL,
    last_status     BIGINT NULL,
    last_error      TEXT   NULL,
    delivered_at    BIGINT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (webhook_id, event_id)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

-- Bearer tokens, stored as SHA-256 of the secret only.
CREATE TABLE api_tokens (
    id         TEXT   NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL,
    scope      TEXT   NOT NULL,
    hash       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT NULL
);

CREATE UNIQUE INDEX api_tokens_hash ON api_tokens (hash);

-- Smiley counts per UTC hour and per UTC day, per agent and queue ('' for
-- none), kept up to date in the transaction that stores each rating. Figures
-- over long windows read these instead of every rating.
CREATE TABLE rollup_hour (
    bucket BIGINT NOT NULL,
    agent  TEXT   NOT NULL,
    queue  TEXT   NOT NULL,
    happy  BIGINT NOT NULL,
    sad    BIGINT NOT NULL,
    PRIMARY KEY (bucket, agent, queue)
);

CREATE INDEX rollup_hour_agent ON rollup_hour (agent, bucket);
CREATE INDEX rollup_hour_queue ON rollup_hour (queue, bucket);

CREATE TABLE rollup_day (
    bucket BIGINT NOT NULL,
    agent  TEXT   NOT NULL,
    queue  TEXT   NOT NULL,
    happy  BIGINT NOT NULL,
    sad    BIGINT NOT NULL,
    PRIMARY KEY (bucket, agent, queue)
);

CREATE INDEX rollup_day_agent ON rollup_day (agent, bucket);
CREATE INDEX rollup_day_queue ON rollup_day (queue, bucket);

INSERT INTO rollup_hour (bucket, agent, queue, happy, sad)
SELECT (created_at / 3600000) * 3600000, COALESCE(agent, ''), COALESCE(queue, ''),
       COUNT(CASE WHEN rating = 'happy' THEN 1 END), COUNT(CASE WHEN rating = 'sad' THEN 1 END)
FROM measurements WHERE kind = 'smiley'
GROUP BY (created_at / 3600000) * 3600000, COALESCE(agent, ''), COALESCE(queue, '');

INSERT INTO rollup_day (bucket, agent, queue, happy, sad)
SELECT (created_at / 86400000) * 86400000, COALESCE(agent, ''), COALESCE(queue, ''),
       COUNT(CASE WHEN rating = 'happy' THEN 1 END), COUNT(CASE WHEN rating = 'sad' THEN 1 END)
FROM measurements WHERE kind = 'smiley'
GROUP BY (created_at / 86400000) * 86400000, COALESCE(agent, ''), COALESCE(queue, '');

-- Sad ratings with comments, newest first, are a common follow-up listing.
CREATE INDEX measurements_rating_created ON measurements (rating, created_at, id);
