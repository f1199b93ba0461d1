-- tokens: one row per token of the document versions that `documents` shows
-- (same doc_id, batch and version), so superseded versions and re-processed documents vanish.
-- example: select lemma, count(*) from tokens where pos = 'VERB' group by 1 order by 2 desc limit 10
select * from shown_spans('tokens')
