"""Print docs/json.md, the published JSON contract: `python scripts/json_schema.py > docs/json.md`."""

import sys

from gigafactory.contract import schema_markdown

sys.stdout.write(schema_markdown())
