"""Generated gRPC and protobuf modules for the ``connbroker.v1`` API.

``broker_pb2`` (messages) and ``broker_pb2_grpc`` (stubs) are produced by
``make generate`` from ``proto/connbroker/v1/broker.proto``; do not edit them.
"""
