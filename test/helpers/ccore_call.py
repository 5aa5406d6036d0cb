"""One unary call with grpcio (gRPC C-core), for tests of what non-grpc-js clients get.

usage: ccore_call.py <target> <method path> <request as hex>
                     [--service-config FILE] [--service-config-from-dns]
With --service-config (JSON, e.g. deploy/service-config.json), the channel
uses it as its default service config (`grpc.service_config`), so its
retryPolicy applies. With --service-config-from-dns, the channel reads the
config the target's DNS name publishes (C-core looks it up only when asked).
Prints one JSON line: the status code name, the details, and the
grpc-status-details-bin trailer in base64 ("" when absent).
"""

import argparse
import base64
import json

import grpc


def channel_options(arguments: argparse.Namespace) -> list[tuple[str, str | int]]:
    options: list[tuple[str, str | int]] = []
    if arguments.service_config is not None:
        with open(arguments.service_config, encoding="utf-8") as config:
            options.append(("grpc.service_config", config.read()))
    if arguments.service_config_from_dns:
        options.append(("grpc.service_config_disable_resolution", 0))
    return options


def main() -> None:
    parser = argparse.ArgumentParser(description="One unary call with grpcio.")
    parser.add_argument("target")
    parser.add_argument("method")
    parser.add_argument("request_hex")
    parser.add_argument("--service-config")
    parser.add_argument("--service-config-from-dns", action="store_true")
    arguments = parser.parse_args()
    with grpc.insecure_channel(arguments.target, options=channel_options(arguments)) as channel:
        call = channel.unary_unary(arguments.method, request_serializer=None, response_deserializer=None)
        try:
            call(bytes.fromhex(arguments.request_hex), timeout=10)
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
