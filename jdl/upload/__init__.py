"""The upload: the Data Upload Template (columns, the blank workbook), reading and checking a
filled one (validate), and identifier formats (PNC, prison number, names)."""
