"""Agenda and paperless meetings (issue 5).

agenda.py     agenda items: create, edit, reorder, delete (chair side, until the meeting ends)
documents.py  PDF upload (checked, hashed, indexed, signature-checked), versions, opening
access.py     who may read what (chair side, invited rooms, reviewers; confidential documents)
publish.py    sending the agenda ahead: publication, `agenda_published` event, webhook.py
receipts.py   read receipts per room and document version, and the chair's report
render.py     page images cached by (sha256, page, width); pdf.py is the only PDFium user
sandbox.py    runs pdf.py in limited child processes (pdfworker.py): upload checks, page renders
uploads.py    upload endpoints: refused before parsing, the file streamed to the spool (storage.py)
sync.py       live side for the socket: set_current_item, present, stop_presenting, get_sync_state
search.py     accent-insensitive full-text search (fold.py folds Vietnamese)
api.py        the HTTP API under /api/agenda
"""
