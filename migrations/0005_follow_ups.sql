-- Follow-ups: a team lead's mark that an answer (typically an unhappy
-- caller's comment) was dealt with, with a short note, who marked it and
-- when. One row per measurement: marking again replaces it, reopening
-- deletes it. Same rules as 0001: valid on SQLite and PostgreSQL alike,
-- BIGINT milliseconds, TEXT ids.
--
-- `by_name` is the name of the API token used; NULL when the mark came from
-- a loopback client while no tokens existed (`via` = 'loopback', else
-- 'token').
CREATE TABLE follow_ups (
    measurement_id TEXT   NOT NULL PRIMARY KEY,
    created_at     BIGINT NOT NULL,
    via            TEXT   NOT NULL,
    by_name        TEXT   NULL,
    note           TEXT   NOT NULL
);

CREATE INDEX follow_ups_created ON follow_ups (created_at);
