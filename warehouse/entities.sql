-- entities: one row per entity mention of the document versions that `documents` shows
-- (same doc_id, batch and version), so superseded versions and re-processed documents vanish.
-- example: select text, label, canonical from entities where label = 'PERSON'
select * from shown_spans('entities')
