-- paragraphs: one row per paragraph of the document versions that `documents` shows
-- (same doc_id, batch and version), so superseded versions and re-processed documents vanish.
-- example: select doc_id, count(*) from paragraphs group by 1
select * from shown_spans('paragraphs')
