-- pgml 1.2: run once, by a fresh install after 1.0's and 1.1's catalog parts, and by
-- ALTER EXTENSION pgml UPDATE from 1.1. 1.2 changes no table, type or policy: its changes
-- (predict* STABLE, pgml.settings / show_settings, the new entry points) are all in
-- sql/functions/, which every upgrade re-runs.
SELECT 1;
