-- The response-rate counts (GET /api/v1/responses, on every dashboard page)
-- read calls by survey or queue over a window. With only calls_started the
-- 30 days of a year's 1,200,000 calls meant ~80,000 table lookups (70 ms
-- quiet, over a second on a busy machine); these indexes hold every column
-- the count needs, so it reads the index alone (under 20 ms). Per agent,
-- calls_agent_started already narrows to a few thousand rows. Same rules as
-- 0001: valid on SQLite and PostgreSQL alike.
CREATE INDEX calls_survey_started ON calls (survey, started_at, outcome);
CREATE INDEX calls_queue_started ON calls (queue, started_at, survey, outcome);
