"""Input formats: one parser module per format, each turning its input into `PaperRecord`s.

`detect.open_source` picks the right one for a file; the harvesters call the `parse_*` functions.
"""
