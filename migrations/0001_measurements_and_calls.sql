-- Initial schema. Must stay valid on both SQLite and PostgreSQL: TEXT ids
-- (UUIDv7 strings), BIGINT times in UTC milliseconds since the epoch, no
-- backend-specific types. No CHECK constraints on enumerated columns: later
-- surveys (csat, nps) widen them, and SQLite cannot alter a CHECK in place;
-- the code only ever writes values from its own enums.

-- One row per answer a caller gave. `score` is the numeric value on the
-- survey's scale (smiley: 1 happy, 0 sad) so that later scales can be
-- aggregated the same way; `rating` keeps the label.
CREATE TABLE measurements (
    id               TEXT    NOT NULL PRIMARY KEY,
    created_at       BIGINT  NOT NULL,
    survey           TEXT    NOT NULL DEFAULT 'smiley',
    kind             TEXT    NOT NULL,
    score            INTEGER NOT NULL,
    rating           TEXT    NOT NULL,
    digit            TEXT    NOT NULL,
    dtmf_source      TEXT    NOT NULL,
    agent            TEXT    NULL,
    queue            TEXT    NULL,
    original_call_id TEXT    NULL,
    sip_call_id      TEXT    NOT NULL,
    caller           TEXT    NULL
);

CREATE INDEX measurements_agent_created ON measurements (agent, created_at);
CREATE INDEX measurements_queue_created ON measurements (queue, created_at);
CREATE INDEX measurements_created_id ON measurements (created_at, id);

-- One row per call that entered the survey, whatever its outcome, so that
-- response rates have an honest denominator.
CREATE TABLE calls (
    id             TEXT   NOT NULL PRIMARY KEY,
    sip_call_id    TEXT   NOT NULL,
    started_at     BIGINT NOT NULL,
    ended_at       BIGINT NOT NULL,
    survey         TEXT   NOT NULL DEFAULT 'smiley',
    agent          TEXT   NULL,
    queue          TEXT   NULL,
    caller         TEXT   NULL,
    outcome        TEXT   NOT NULL,
    measurement_id TEXT   NULL
);

CREATE INDEX calls_agent_started ON calls (agent, started_at);
CREATE INDEX calls_started ON calls (started_at);
