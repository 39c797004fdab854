"""
The OTLP exporter: spans sent to an OpenTelemetry collector, Jaeger or Tempo.

Spans are converted to OpenTelemetry SDK spans that keep mtrace's ids (see
:mod:`mtrace_ros.export.otel_spans`) and handed, a batch at a time, to the
SDK's OTLP exporter: HTTP/protobuf or gRPC. The SDK is imported only when an
OTLP sink is created. The exporter retries and logs each failure through
Python ``logging``; records it logs from a sink's own thread are kept out of
the logs and folded into the sink's single warning instead (escaped: they may
hold what the endpoint answered).
"""

import logging
import threading
from typing import Any
from typing import Callable
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

from mtrace_ros.export.schema import SpanRecord

PROTOCOLS = ('http', 'grpc')

_EXPORTER_LOGGERS = 'opentelemetry.exporter.otlp'
# In a sink's thread: .sink, the OtlpSink exporting there.
_sink_thread = threading.local()


class OtlpExportError(RuntimeError):
    """An OTLP exporter gave up on a batch."""


def _keep_record(record: logging.LogRecord) -> bool:
    """Keep an exporter log record unless a sink's thread logged it; hand that to the sink."""
    sink = getattr(_sink_thread, 'sink', None)
    if sink is None:
        return True
    sink.note_exporter_log(record.getMessage())
    return False


def _mute_exporter_logs_in_sink_threads() -> None:
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if (name.startswith(_EXPORTER_LOGGERS) and isinstance(logger, logging.Logger)
                and _keep_record not in logger.filters):
            logger.addFilter(_keep_record)


def _load(protocol: str) -> Tuple[Any, Callable[[Any, List[SpanRecord]], bool]]:
    """Import the SDK and the exporter of ``protocol``; return it and the export function."""
    package = f'opentelemetry-exporter-otlp-proto-{protocol}'
    try:
        if protocol == 'grpc':
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from mtrace_ros.export.otel_spans import export_spans
    except ImportError as ex:
        raise ImportError(
            f'the otlp-{protocol} span sink needs the OpenTelemetry SDK and its OTLP '
            f'exporter: install opentelemetry-sdk and {package} ({ex})') from ex
    _mute_exporter_logs_in_sink_threads()
    return OTLPSpanExporter, export_spans


class OtlpExporter:
    """Export spans over OTLP, keeping mtrace's trace and span ids."""

    def __init__(
        self, protocol: str = 'http', endpoint: str = '', *,
        timeout_sec: Optional[float] = None,
    ) -> None:
        """
        Create the exporter; spans are sent from the sink's thread.

        :param protocol: ``'http'`` (HTTP/protobuf) or ``'grpc'``.
        :param endpoint: the URL to send to (for HTTP, with its ``/v1/traces``
            path); empty for the ``OTEL_EXPORTER_OTLP_*`` variables or the
            OpenTelemetry default (``localhost``, port 4318 or 4317).
        :param timeout_sec: how long one batch may take, retries included
            (default: ``OTEL_EXPORTER_OTLP_TIMEOUT``, else 10 s).
        :raises ValueError: for an unknown protocol.
        :raises ImportError: if the OpenTelemetry SDK or exporter is missing.
        """
        if protocol not in PROTOCOLS:
            raise ValueError(f'OTLP protocol must be one of {PROTOCOLS}, got {protocol!r}')
        exporter_class, self._export_spans = _load(protocol)
        self._exporter = exporter_class(endpoint=endpoint or None, timeout=timeout_sec)
        self.endpoint = endpoint or f'the OTLP/{protocol} default endpoint'
        self._problem: Optional[str] = None
        self._shutdown_lock = threading.Lock()
        self._shut_down = False
        self.name = f'otlp-{protocol}:{endpoint}' if endpoint else f'otlp-{protocol}'

    def note_exporter_log(self, message: str) -> None:
        """Take a record the exporter logged from this sink's thread: why the batch failed."""
        if self._problem is None:
            self._problem = message

    def export(self, batch: Sequence[SpanRecord]) -> bool:
        """Send a batch; raise, saying what the endpoint or the exporter said, if it failed."""
        _sink_thread.sink = self
        self._problem = None
        if not self._export_spans(self._exporter, batch):
            detail = self._problem or 'no detail'
            raise OtlpExportError(f'{self.endpoint} did not take {len(batch)} spans ({detail})')
        return True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Return True: the SDK exporter sends each batch when it is exported."""
        return True

    def shutdown(self) -> None:
        """Shut the SDK exporter down: also cuts its retries short."""
        with self._shutdown_lock:
            if self._shut_down:
                return
            self._shut_down = True
        self._exporter.shutdown()
