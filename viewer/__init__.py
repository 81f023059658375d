"""ModelGraph → what people see: summaries, groups, tables and the canvas payload.

Importing this package never imports streamlit; only ``viewer.pages`` and ``viewer.component`` do.
"""
