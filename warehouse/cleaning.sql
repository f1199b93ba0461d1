-- cleaning: one row per cleaning step that changed a document (as `documents` shows it), in the
-- order the steps ran: sizes before and after, a short sample around the first change, and the
-- step's own explanation (e.g. what ftfy repaired). Steps that changed nothing have no row.
-- example: select op, count(*), sum(chars_before - chars_after) from cleaning group by 1
select * from shown_spans('cleaning')
