"""Secrets named by ARN come from Secrets Manager (moto's, here) when the aws runtime is built."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from booking.bootstrap_aws import build_aws
from booking.settings import Settings
from tests.moto_server import AWS_TEST_ENV, create_table


def test_webhook_secret_and_signing_key_are_read_by_arn(moto_endpoint: str, tmp_path: Path) -> None:
    # botocore's stubs type every client as BaseClient, without the service's operations.
    client: Any = botocore.session.get_session().create_client(
        "secretsmanager",
        region_name=AWS_TEST_ENV["AWS_DEFAULT_REGION"],
        endpoint_url=moto_endpoint,
    )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    webhook_arn = client.create_secret(Name=f"wh-{uuid.uuid4().hex}", SecretString="s3cret")["ARN"]
    key_arn = client.create_secret(Name=f"tk-{uuid.uuid4().hex}", SecretString=pem)["ARN"]
    client.close()
    runtime = build_aws(
        Settings.of(
            runtime="aws",
            table_name=asyncio.run(create_table(moto_endpoint)),
            aws_endpoint_url=moto_endpoint,
            data_dir=tmp_path,
            webhook_secret_arn=webhook_arn,
            ticket_signing_key_arn=key_arn,
        )
    )
    assert runtime.settings.resolved_webhook_secret() == b"s3cret"
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert runtime.services.tickets.public_key_pem() == public
    assert not (tmp_path / "webhook-secret").exists()
    assert not (tmp_path / "ticket-signing-key.pem").exists()
    with pytest.raises(Exception, match="ResourceNotFound"):
        build_aws(
            Settings.of(
                runtime="aws",
                table_name="t",
                aws_endpoint_url=moto_endpoint,
                data_dir=tmp_path,
                webhook_secret_arn="arn:aws:secretsmanager:"
                "ap-northeast-2:123456789012:secret:missing-abcdef",
            )
        )
