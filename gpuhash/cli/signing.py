"""The commands that sign and check models: ``sign``, ``verify`` and ``check``, each with its
parser (``add_*``) and what it runs (``cmd_*``)."""

from __future__ import annotations

import argparse
import os
import sys

from gpuhash.cli import resolve
from gpuhash.cli.options import (
    AddParser,
    hash_options,
    mmap_options,
    option,
    positional,
    values,
    verify_hash_options,
)
from gpuhash.cli.output import EXIT_FAILED, EXIT_OK, ellipsis, printable, short_hex
from gpuhash.cli.progress import end_progress, error, start_progress
from gpuhash.errors import UsageError

#: The environment variable ``gpuhash sign`` takes an encrypted private key's password from.
PASSWORD_ENV = "GPUHASH_KEY_PASSWORD"  # noqa: S105 - a variable name, not a password


def _objects(count: int) -> str:
    return f"{count} object" if count == 1 else f"{count} objects"


def _key_password(args: argparse.Namespace) -> str | None:
    """The password of an encrypted ``--private-key``: ``--password``, else $GPUHASH_KEY_PASSWORD,
    else asked for at the terminal; none for a key that is not encrypted."""
    if args.password is not None:
        return str(args.password)
    if args.private_key is None:
        return None
    from gpuhash.signing.methods import private_key_is_encrypted

    if not private_key_is_encrypted(args.private_key):
        return None
    password = os.environ.get(PASSWORD_ENV)
    if password is not None:
        return password
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"password for {printable(args.private_key)}: ")
    raise UsageError(
        f"{args.private_key}: the private key is encrypted; give its password with "
        f"--password, ${PASSWORD_ENV} or at a terminal"
    )


def cmd_sign(args: argparse.Namespace) -> int:
    """``gpuhash sign``: hash the model, write its signature, say what was signed."""
    from gpuhash import signing
    from gpuhash.algorithms import parse_size

    oms = args.format == "oms"
    algorithm = None if oms else resolve.algorithm(args)
    backend = resolve.chosen_backend(args, algorithm)
    if oms and args.leaf_size is not None:
        raise UsageError("--leaf-size does not apply to --format oms")
    progress = start_progress(args)
    try:
        subject = signing.sign(
            args.path,
            args.signature,
            method=args.method,
            private_key=args.private_key,
            password=_key_password(args),
            signing_certificate=args.signing_certificate,
            certificate_chain=args.certificate_chain,
            identity_token=args.identity_token,
            trust_config=args.trust_config,
            oidc_issuer=args.oidc_issuer,
            use_staging=args.use_staging,
            client_id=args.client_id,
            client_secret=args.client_secret,
            force_oob=args.oauth_force_oob,
            format=args.format,
            algorithm=args.algorithm if oms else algorithm.id if algorithm is not None else None,
            # The identifier of blake3 has no leaf part: the leaf size travels on its own.
            leaf_size=None if algorithm is None else algorithm.leaf_size,
            backend=backend,
            **resolve.walk(args),
            shard_size=None if args.shard_size is None else parse_size(args.shard_size),
            range_size=None if args.range_size is None else parse_size(args.range_size),
            progress=progress,
            use_mmap=not args.no_mmap,
            objects=args.objects or "files",
        )
    finally:
        end_progress(progress)
        if not isinstance(backend, str):
            backend.close()
    key, _, value = subject.partition(":")
    dots = ellipsis(sys.stdout)
    sys.stdout.write(f"signed {printable(args.path)} ({args.method}, {args.format} format)\n")
    sys.stdout.write(f"subject: {key}:{short_hex(bytes.fromhex(value), dots)}\n")
    sys.stdout.write(f"signature: {printable(args.signature)}\n")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    """``gpuhash verify``: check the signature, re-hash the model and compare (exit 1 if not)."""
    from gpuhash import signing
    from gpuhash.errors import VerificationError

    backend = resolve.chosen_backend(args, None)
    progress = start_progress(args)
    try:
        result = signing.verify(
            args.path,
            args.signature,
            method=args.method,
            public_key=args.public_key,
            certificate_chain=args.certificate_chain,
            identity=args.identity,
            identity_provider=args.identity_provider,
            trust_config=args.trust_config,
            use_staging=args.use_staging,
            backend=backend,
            **resolve.walk(args),
            ignore_unsigned_files=args.ignore_unsigned_files,
            only=args.only,
            objects=args.objects,
            range_proof=args.range,
            progress=progress,
            use_mmap=not args.no_mmap,
        )
    except signing.VerificationFailed as e:
        return _report_mismatch(e, e.result.problems())
    except VerificationError as e:
        return _report_mismatch(e, [])
    finally:
        end_progress(progress)
        if not isinstance(backend, str):
            backend.close()
    if result.proven is not None:
        name, start, end = result.proven
        sys.stdout.write(
            f"verified bytes [{start}, {end}) of {printable(name)} in {printable(args.path)}, "
            f"{result.algorithm}, signed by {printable(result.signer)}\n"
        )
        return EXIT_OK
    sys.stdout.write(
        f"verified {printable(args.path)}: {_objects(result.objects)}, {result.algorithm} "
        f"({result.format} format), signed by {printable(result.signer)}\n"
    )
    return EXIT_OK


def _report_mismatch(error_: Exception, problems: list[str], what: str = "verification") -> int:
    """A model that does not match: one line per difference on stdout, the verdict on stderr."""
    for line in problems:
        sys.stdout.write(printable(line) + "\n")
    sys.stdout.flush()
    error(f"{what} failed: {error_}")
    return EXIT_FAILED


def cmd_check(args: argparse.Namespace) -> int:
    """``gpuhash check``: re-hash the model and compare it with an unsigned manifest."""
    from gpuhash import signing
    from gpuhash.errors import VerificationError

    manifest = resolve.read_manifest(args.manifest, "manifest")
    model = args.path if args.path is not None else os.path.dirname(args.manifest) or "."
    backend = resolve.chosen_backend(args, None)
    progress = start_progress(args)
    try:
        result = signing.check(
            model,
            manifest,
            manifest_path=args.manifest,
            backend=backend,
            **resolve.walk(args, model),
            only=args.only,
            objects=args.objects,
            progress=progress,
        )
    except signing.VerificationFailed as e:
        return _report_mismatch(e, e.result.problems(), "check")
    except VerificationError as e:
        return _report_mismatch(e, [], "check")
    finally:
        end_progress(progress)
        if not isinstance(backend, str):
            backend.close()
    sys.stdout.write(
        f"checked {printable(model)}: {_objects(result.objects)}, {result.algorithm}, "
        f"against the manifest {printable(args.manifest)} (unsigned)\n"
    )
    return EXIT_OK


def _signing_options(parser: argparse.ArgumentParser, verify: bool) -> None:
    """The options of `sign` (``verify=False``) or `verify`: the signature, keys, Sigstore."""
    parser.add_argument(
        "--signature",
        metavar="FILE",
        required=True,
        help="the signature file (a Sigstore bundle)"
        + ("" if verify else ", written atomically; ignored when it lies inside MODEL"),
    )
    values(
        parser,
        "--certificate-chain",
        metavar="PEM",
        help="trust anchors to verify the signing certificate against"
        if verify
        else "certificates of the chain above the signing certificate, to put in the bundle",
    )
    option(
        parser,
        "--trust-config",
        metavar="FILE",
        help="Sigstore client trust configuration (JSON); default: the public-good instance, "
        "fetched over the network"
        + (" (with this file, verification is offline)" if verify else ""),
    )
    option(
        parser,
        "--use-staging",
        action="store_true",
        help="Sigstore's staging instance instead of the public-good one (for tests)",
    )
    if verify:
        option(parser, "--public-key", metavar="PEM", help="ECDSA public key (method key)")
        option(parser, "--identity", metavar="ID", help="expected Sigstore signer identity")
        option(
            parser,
            "--identity-provider",
            metavar="URL",
            help="expected OIDC issuer of the Sigstore identity",
        )
        option(
            parser,
            "--ignore-unsigned-files",
            action="store_true",
            help="files in MODEL that the signature does not list are not reported (nor hashed)",
        )
        parser.add_argument(
            "--no-ignore-unsigned-files",
            "--no-ignore_unsigned_files",  # model_signing's spelling
            dest="ignore_unsigned_files",
            action="store_false",
            help="report them (the default)",
        )
    else:
        option(
            parser, "--private-key", metavar="PEM", help="ECDSA P-256, P-384 or P-521 private key"
        )
        option(
            parser,
            "--password",
            metavar="TEXT",
            help="the password of an encrypted --private-key (model_signing's option; other "
            f"users of this machine may see it: prefer ${PASSWORD_ENV} or the prompt shown "
            "at a terminal)",
        )
        option(
            parser,
            "--signing-certificate",
            metavar="PEM",
            help="the certificate of the private key (method certificate)",
        )
        option(
            parser,
            "--identity-token",
            metavar="JWT",
            help="OIDC identity token for Sigstore (default: ambient credentials, else an "
            "interactive login)",
        )
        option(parser, "--oidc-issuer", metavar="URL", help="OIDC issuer for the login")
        option(
            parser,
            "--use-ambient-credentials",
            action="store_true",
            help="use the environment's workload identity (CI) when there is one: always "
            "done, the option is model_signing's",
        )
        option(
            parser,
            "--oauth-force-oob",
            action="store_true",
            help="log in out of band: print the URL instead of opening a browser",
        )
        option(parser, "--client-id", metavar="ID", help="OAuth client ID for the login")
        option(
            parser, "--client-secret", metavar="SECRET", help="OAuth client secret for the login"
        )
        parser.add_argument(
            "--format",
            choices=("gpuhash", "oms"),
            default="gpuhash",
            help="gpuhash: the gpuhash manifest (default); oms: a model_signing v1.0 "
            "signature (--algorithm sha256 or blake3, or --shard-size for sha256 shards)",
        )
        option(
            parser,
            "--shard-size",
            metavar="N",
            help="with --format oms: hash files in shards of N bytes (sha256)",
        )
        option(
            parser,
            "--range-size",
            metavar="N",
            help="bytes per signed range value (a power-of-two multiple of the leaf size), "
            "the granularity at which verification names changed byte ranges "
            "(default: the backend's window, 64 MiB on cpu)",
        )


def add_sign_verify(add_parser: AddParser) -> None:
    """The parsers of ``gpuhash sign`` and ``gpuhash verify``."""
    for name, verify in (("sign", False), ("verify", True)):
        p = add_parser(
            name,
            help="verify a model's signature" if verify else "hash a model and sign it",
            description=(
                "Check SIGNATURE, then re-hash MODEL and compare; exit 0 if verified, 1 if "
                "not, 2 on a usage or input error."
                if verify
                else "Hash MODEL and write a signature (in-toto statement, DSSE envelope, "
                "Sigstore bundle)."
            ),
        )
        p.add_argument(
            "method", choices=("key", "certificate", "sigstore"), help="how it is signed"
        )
        if verify:
            positional(p, "path", "MODEL", "a model file or directory")
            verify_hash_options(p)
            mmap_options(p)
            p.add_argument(
                "--range",
                metavar="PROOF",
                help="check only the byte range an inclusion proof (from `gpuhash prove`) "
                "covers, reading only those bytes of its object",
            )
        else:
            hash_options(p)
        _signing_options(p, verify)
        p.set_defaults(func=cmd_verify if verify else cmd_sign)


def add_check(add_parser: AddParser) -> None:
    """The parser of ``gpuhash check``."""
    p = add_parser(
        "check",
        help="check a model against an unsigned manifest (from `gpuhash hash -o`)",
        usage="%(prog)s [options] MANIFEST [MODEL]",
        description="Re-hash MODEL and compare it with MANIFEST, as `verify` compares it with a "
        "signed manifest: exit 0 if it matches, 1 if not (naming each missing, extra or changed "
        "object), 2 on a usage or input error. MODEL defaults to the directory MANIFEST is in; "
        "MANIFEST itself is left out when it lies inside MODEL. Nothing is signed, so this "
        "shows the model is the one hashed, not who hashed it.",
    )
    positional(p, "manifest", "MANIFEST", "a manifest, JSON or protobuf binary")
    positional(
        p,
        "path",
        "MODEL",
        "the model file or directory (default: the directory of MANIFEST)",
        required=False,
    )
    verify_hash_options(p)
    p.set_defaults(func=cmd_check)
