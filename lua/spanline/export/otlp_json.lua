-- export/otlp_json.lua: OTLP/HTTP JSON (one ExportTraceServiceRequest per line).
return require("spanline.export.otlp").exporter("json",
  "OTLP/HTTP JSON, one ExportTraceServiceRequest per line (OpenTelemetry collector)")
