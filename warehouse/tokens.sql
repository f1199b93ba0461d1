-- tokens: one row per token of the document versions that `documents` shows
-- (same doc_id, batch and version), so superseded versions and re-processed documents vanish.
select * from shown_spans('tokens')
