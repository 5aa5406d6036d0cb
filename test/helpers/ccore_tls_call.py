"""One unary call with grpcio (gRPC C-core) over TLS, for tests of what non-grpc-js clients get.

usage: ccore_tls_call.py <host:port> <method path> <request as hex> --ca PATH
                         [--cert PATH --key PATH] [--server-name NAME]
       (the bearer token, if any, comes from the FRAUD_TOKEN environment variable)
Prints one JSON line: the status code name, the details, and the
grpc-status-details-bin trailer in base64 ("" when absent).
"""

import argparse
import base64
import json
import os
from pathlib import Path

import grpc


def channel_credentials(args: argparse.Namespace) -> grpc.ChannelCredentials:
    """TLS trusting --ca, with a client certificate when --cert and --key are given."""
    cert = Path(args.cert).read_bytes() if args.cert else None
    key = Path(args.key).read_bytes() if args.key else None
    return grpc.ssl_channel_credentials(root_certificates=Path(args.ca).read_bytes(), private_key=key, certificate_chain=cert)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("method")
    parser.add_argument("request_hex")
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--server-name")
    args = parser.parse_args()
    options = [("grpc.ssl_target_name_override", args.server_name)] if args.server_name else []
    token = os.environ.get("FRAUD_TOKEN")
    metadata = [("authorization", f"Bearer {token}")] if token else None
    with grpc.secure_channel(args.target, channel_credentials(args), options=options) as channel:
        call = channel.unary_unary(args.method, request_serializer=None, response_deserializer=None)
        try:
            call(bytes.fromhex(args.request_hex), timeout=10, metadata=metadata)
            print(json.dumps({"code": "OK", "details": "", "statusDetails": ""}))
        except grpc.RpcError as error:
            trailers = dict(error.trailing_metadata() or ())
            details_bin = trailers.get("grpc-status-details-bin", b"")
            print(
                json.dumps(
                    {
                        "code": error.code().name,
                        "details": error.details() or "",
                        "statusDetails": base64.b64encode(details_bin).decode("ascii"),
                    }
                )
            )


if __name__ == "__main__":
    main()
