"""The artifact store on S3 (or any S3-compatible server: MinIO, Ceph, moto), behind the same methods as the
local one, so every asset, cache and command works unchanged on either.

Objects live under `s3://<bucket>/<prefix>/<rel>` with the local layout (core/storage.py). A local mirror
(`root`) holds what this process wrote or read, because the recogniser, the renderer and ffmpeg need files
on disk: `local(rel)` downloads on first use; `publish(rel)` uploads a file an outside writer made at
`path(rel)`.

Publishing is atomic: a PUT makes the whole object visible at once, or nothing; a write-once artifact is put
with `If-None-Match: *`, so two writers cannot both create it. Every call has a connect and a read timeout
and a bounded number of attempts (reliability fact 8: a black-holed endpoint otherwise takes minutes), and
fails with StorageUnavailable (retryable) naming the endpoint. Credentials come only from the standard AWS
chain (environment, shared files, instance or task role); nothing here reads, logs or stores them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from podcast_assets.core.errors import StorageError, StorageUnavailable
from podcast_assets.core.storage import LocalArtifactStore, atomic_write_bytes


class S3ArtifactStore(LocalArtifactStore):
    def __init__(
        self,
        root: str | Path,
        *,
        bucket: str,
        prefix: str = "",
        region: str | None = None,
        endpoint_url: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_attempts: int = 3,
    ):
        import boto3
        from botocore.config import Config

        super().__init__(root)
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.endpoint = endpoint_url or f"s3.{region or 'default-region'}.amazonaws.com"
        # a session of its own: credentials are resolved from the chain when the store is opened (the default
        # session would keep the first ones it found for the life of the process), and sessions are not shared
        # between threads
        self.client = boto3.session.Session().client(
            "s3",
            region_name=region,
            endpoint_url=endpoint_url,
            config=Config(
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"max_attempts": max_attempts, "mode": "standard"},
            ),
        )

    # ---------------------------------------------------------------- helpers

    def key(self, rel: str) -> str:
        self.path(rel)  # validates rel
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def url(self, rel: str) -> str:
        return f"s3://{self.bucket}/{self.key(rel)}"

    def _call(self, what: str, rel: str, fn, *args, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status == 412:
                raise StorageError("artifact already exists and is never overwritten", path=self.url(rel),
                                   fix="write a new version under another name") from None  # fmt: skip
            if status in (401, 403) or code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise StorageError(f"S3 refused to {what} ({code or status})", path=self.url(rel),
                                   fix="check the AWS credentials and the bucket policy") from None  # fmt: skip
            if status == 404 or code in ("NoSuchKey", "NotFound", "NoSuchBucket"):
                raise FileNotFoundError(self.url(rel)) from None
            raise StorageUnavailable(f"S3 failed to {what} ({code or status})", path=self.url(rel),
                                     fix="retry later; local results are kept") from None  # fmt: skip
        except BotoCoreError as exc:  # connect or read timeout, endpoint unreachable, after the retries
            raise StorageUnavailable(
                f"S3 at {self.endpoint} did not answer ({type(exc).__name__})", path=self.url(rel),
                fix="check the endpoint and the network, then retry; local results are kept",
            ) from None  # fmt: skip

    # ---------------------------------------------------------------- the store's methods

    def exists(self, rel: str) -> bool:
        try:
            self._call("look up", rel, self.client.head_object, Bucket=self.bucket, Key=self.key(rel))
        except FileNotFoundError:
            return False
        return True

    def write_bytes(self, rel: str, data: bytes, *, replace: bool = True) -> str:
        extra = {} if replace else {"IfNoneMatch": "*"}
        self._call("write", rel, self.client.put_object, Bucket=self.bucket, Key=self.key(rel), Body=data, **extra)
        atomic_write_bytes(self.path(rel), data)
        return rel

    def read_bytes(self, rel: str) -> bytes:
        return self.local(rel).read_bytes()

    def local(self, rel: str) -> Path:
        """The object as a local file, downloaded into the mirror if it is not there (whole, or not at all)."""
        path = self.path(rel)
        if path.is_file():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".download")
        os.close(fd)
        try:
            self._call("read", rel, self.client.download_file, self.bucket, self.key(rel), tmp)
            os.replace(tmp, path)
        except FileNotFoundError as exc:
            raise StorageError("artifact not found", path=self.url(rel),
                               fix="materialize the upstream asset for this pair first") from exc  # fmt: skip
        except OSError as exc:  # the mirror's disk is full or not writable: nothing partial is left
            raise StorageError(
                f"could not copy {self.url(rel)} to this machine ({exc.strerror or exc})", path=path,
                fix="free disk space where storage.root points (the local mirror), then re-run",
            ) from exc  # fmt: skip
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return path

    def publish(self, rel: str) -> str:
        """Upload the file an outside writer finished at `path(rel)`; it becomes visible whole."""
        self._call("write", rel, self.client.upload_file, str(self.path(rel)), self.bucket, self.key(rel))
        return rel

    def list(self, prefix: str) -> list[str]:
        base = self.key(prefix).rstrip("/") + "/"
        names: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self._call("list", prefix, lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=base)))
        for page in pages:
            names += [obj["Key"][len(base) :] for obj in page.get("Contents", [])]
        return sorted(f"{prefix.rstrip('/')}/{n}" for n in names)

    def delete(self, rel: str) -> None:
        self._call("delete", rel, self.client.delete_object, Bucket=self.bucket, Key=self.key(rel))
        with contextlib.suppress(FileNotFoundError):
            self.path(rel).unlink()

    def clear_mirror(self) -> None:
        """Forget the local copies (the objects stay on S3)."""
        shutil.rmtree(self.root, ignore_errors=True)
