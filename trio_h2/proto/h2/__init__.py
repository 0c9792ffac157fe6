"""The HTTP/2 protocol, sans I/O: h2's state machine with the gate, validation and limits.

:class:`~trio_h2.proto.h2.connection.H2Server` is the one object the server layer
talks to; the rest of this package is what it is made of:

* ``gate.py``: h2's frame buffer, replaced by one that checks each frame first;
* ``validate.py``: request header blocks (RFC 9113 §8);
* ``corrections.py``, ``goaway.py``: h2 held to RFC 9113 where its answers differ;
* ``fast.py``, ``hpack_encoder.py``, ``hpack_decoder.py``: the send path and HPACK,
  made cheap;
* ``wire.py``: the frame header layout; ``nghttp2_hpack.py``: the HPACK codec behind
  :mod:`trio_h2.hpack`.

Where h2 is changed
-------------------
Each override keeps h2's signature and types (mypy's override check then sees a
change upstream), and has a test against unmodified h2.  ``pyproject.toml`` bounds
h2, hpack and hyperframe to the minor releases these are tested with; CI also runs the
equivalence tests against the newest releases.

======================================  =====================================================
Override                                Why
======================================  =====================================================
``incoming_buffer`` (``FrameGate``)     Frame checks before h2 (§3.4, §4.2, §5.3.1, §6.3,
                                        §6.9, flood budgets) with each header parsed once;
                                        test: ``tests/proto/test_frame_gate.py``
``_receive_goaway_frame``,              After the peer's GOAWAY the accepted streams may
``clear_outbound_data_buffer``          still finish (§6.8); h2 closes and drops its queue
``_ServerStream.receive_headers``       §8.1: a second HEADERS without END_STREAM and a
                                        ``:status`` in a request are stream errors; and
                                        h2's generator chain skipped (measured);
                                        test: ``tests/test_protocol_streams.py``
``_ServerStream._initialize_content_``  Content-length is checked by ``H2Server`` as a
``length``, ``_track_content_length``   stream error (§8.1.1); h2 closes the connection
``open_inbound_streams``                Streams over the limit are refused one by one
                                        (§5.1.2), and h2's walk over every stream per new
                                        stream is spared
``_local_settings_acked``               One header-list limit before and after the ACK
``_begin_new_stream``                   Streams are ``_ServerStream``
``_receive_headers_frame``,             §5.3.1 self-dependency and §8.1.1 malformed
``_receive_priority_frame``             requests as stream errors; §4.3 COMPRESSION_ERROR
``_handle_data_on_closed_stream``       §5.1: DATA in flight after our RST_STREAM is
                                        ignored; DATA after END_STREAM closes
``_receive_frame``                      h2 formats ``repr(frame)`` for a no-op logger:
                                        a fifth of the time on uploads (profiled);
                                        frames in flight after a reset are ignored (§5.1)
``send_headers``, ``send_data``,        Frames written with one ``struct.pack`` each into
``end_stream``, ``encoder``,            h2's buffer, dict-indexed HPACK (profiled: most of
``decoder``                             the cost of a small response); test:
                                        ``tests/test_h2fast.py``, ``tests/test_hpack_*``
======================================  =====================================================
"""
