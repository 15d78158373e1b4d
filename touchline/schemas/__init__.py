"""The published contract: JSON Schemas per event version and an AsyncAPI document.

Both are generated from :mod:`touchline.events`; the files under ``json/`` and
``asyncapi.json`` are what publishers and consumers outside Python rely on, so
:func:`export_schemas` refuses to break a published version and
:func:`check_schemas` reports any drift between the files and the code.
"""

from touchline.schemas.publish import (
    ExportReport,
    SchemaCompatibilityError,
    check_schemas,
    export_schemas,
    generated_files,
)

__all__ = [
    "ExportReport",
    "SchemaCompatibilityError",
    "check_schemas",
    "export_schemas",
    "generated_files",
]
