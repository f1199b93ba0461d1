-- noun_chunks: one row per noun chunk of the document versions that `documents` shows (same
-- doc_id, batch and version), so superseded versions and re-processed documents vanish.
-- Only the accurate profile has noun chunks: the fast one runs without a parser.
-- example: select lower(text), count(*) from noun_chunks group by 1 order by 2 desc limit 10
select * from shown_spans('noun_chunks')
