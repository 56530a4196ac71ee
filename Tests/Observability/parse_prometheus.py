"""Parses a text exposition (stdin) with the official Python client's parsers and prints the
metric families as JSON: [{"name", "type", "help", "samples": [{"name", "labels", "value"}]}].
The first argument picks the parser: "text" (Prometheus text 0.0.4) or "openmetrics" (1.0).
Values are written with repr, so NaN and the infinities survive JSON."""
import json
import sys

if sys.argv[1] == "openmetrics":
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
else:
    from prometheus_client.parser import text_string_to_metric_families

families = []
for family in text_string_to_metric_families(sys.stdin.read()):
    families.append({
        "name": family.name,
        "type": family.type,
        "help": family.documentation,
        "samples": [{"name": s.name, "labels": s.labels, "value": repr(float(s.value))} for s in family.samples],
    })
json.dump(families, sys.stdout)
