-- export/otlp_proto.lua: OTLP protobuf (ExportTraceServiceRequest messages).
return require("spanline.export.otlp").exporter("proto",
  "OTLP protobuf ExportTraceServiceRequest (OpenTelemetry collector)")
