"""One unary call with grpcio (gRPC C-core), for tests of what non-grpc-js clients get.

usage: ccore_call.py <target> <method path> <request as hex>
                     [--service-config FILE] [--service-config-from-dns]
                     [--ca PATH [--cert PATH --key PATH] [--server-name NAME]]
With --service-config (JSON, e.g. deploy/service-config.json), the channel
uses it as its default service config (`grpc.service_config`), so its
retryPolicy applies. With --service-config-from-dns, the channel reads the
config the target's DNS name publishes (C-core looks it up only when asked).
With --ca the channel is TLS trusting that CA, with a client certificate when
--cert and --key are given; without it, plaintext.
The bearer token, if any, comes from the FRAUD_TOKEN environment variable
(as for fraud-cli), so it never stands on a command line.
Prints one JSON line: the status code name, the details, and the
grpc-status-details-bin trailer in base64 ("" when absent).
"""

import argparse
import base64
import json
import os
from pathlib import Path

import grpc


def channel_options(arguments: argparse.Namespace) -> list[tuple[str, str | int]]:
    options: list[tuple[str, str | int]] = []
    if arguments.service_config is not None:
        options.append(("grpc.service_config", Path(arguments.service_config).read_text(encoding="utf-8")))
    if arguments.service_config_from_dns:
        options.append(("grpc.service_config_disable_resolution", 0))
    if arguments.server_name is not None:
        options.append(("grpc.ssl_target_name_override", arguments.server_name))
    return options


def channel_credentials(arguments: argparse.Namespace) -> grpc.ChannelCredentials:
    """TLS trusting --ca, with a client certificate when --cert and --key are given."""
    cert = Path(arguments.cert).read_bytes() if arguments.cert else None
    key = Path(arguments.key).read_bytes() if arguments.key else None
    root = Path(arguments.ca).read_bytes()
    return grpc.ssl_channel_credentials(root_certificates=root, private_key=key, certificate_chain=cert)


def open_channel(arguments: argparse.Namespace) -> grpc.Channel:
    options = channel_options(arguments)
    if arguments.ca is None:
        return grpc.insecure_channel(arguments.target, options=options)
    return grpc.secure_channel(arguments.target, channel_credentials(arguments), options=options)


def main() -> None:
    parser = argparse.ArgumentParser(description="One unary call with grpcio.")
    parser.add_argument("target")
    parser.add_argument("method")
    parser.add_argument("request_hex")
    parser.add_argument("--service-config")
    parser.add_argument("--service-config-from-dns", action="store_true")
    parser.add_argument("--ca")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--server-name")
    arguments = parser.parse_args()
    if (arguments.cert or arguments.key or arguments.server_name) and arguments.ca is None:
        parser.error("--cert, --key and --server-name need --ca")
    token = os.environ.get("FRAUD_TOKEN")
    metadata = [("authorization", f"Bearer {token}")] if token else None
    with open_channel(arguments) as channel:
        call = channel.unary_unary(arguments.method, request_serializer=None, response_deserializer=None)
        try:
            call(bytes.fromhex(arguments.request_hex), timeout=10, metadata=metadata)
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
