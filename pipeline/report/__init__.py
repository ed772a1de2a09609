"""Pages for people who look at data: `livo report`'s HTML report of a run, and the HTML pieces
(style, script, image frames with their blur) that `livo eval`'s page shares."""
