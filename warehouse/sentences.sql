-- sentences: one row per sentence of the document versions that `documents` shows
-- (same doc_id, batch and version), so superseded versions and re-processed documents vanish.
-- example: select text from sentences where text ilike '%Seoul%'
select * from shown_spans('sentences')
