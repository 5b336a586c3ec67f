-- varchar(32) cannot hold allowed types such as
-- application/vnd.openxmlformats-officedocument.wordprocessingml.document (71 characters).
-- Only ever widens: a column that is already wider (or text) is left alone. Widening a
-- varchar keeps every existing value and rewrites no rows.
do $$
begin
    if exists (
        select 1 from information_schema.columns
        where table_schema = current_schema()
          and table_name = 'event_media'
          and column_name = 'file_type'
          and character_maximum_length < 255
    ) then
        alter table event_media alter column file_type type varchar(255);
    end if;
end
$$;
