"""Bulk importers for vendor exports of auction results (askART NY/HK, Arthena): ``gbv import``.

One module per vendor format (:mod:`askart_ny`, :mod:`askart_hk`, :mod:`arthena`), shared reading and landing in
:mod:`base`, conforming in :mod:`conform`, the whole run (identity, ingest gate, de-duplication, load, report)
in :mod:`pipeline`, the CLI in :mod:`cli`.
"""
