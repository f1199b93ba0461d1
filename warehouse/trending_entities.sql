-- trending_entities: one row per (canonical, label) mentioned in the last 7 days or the 7 days
-- before: mentions in each window, change (recent - previous) and growth ((recent + 1) /
-- (previous + 1)). Only mentions in documents with a publication date count (day_source =
-- 'published' in `entity_mentions_daily`): processing days say nothing about news, and a corpus
-- without dates has no trends, rather than every entity rising on the day it was read. The
-- windows end at the latest publication day, not today, so the result is reproducible;
-- `trending_entities_over(n_days, window_end)` gives other windows.
-- example: select canonical, label, recent_mentions, previous_mentions, change from trending_entities order by change desc limit 10
select *
from trending_entities_over(7)
