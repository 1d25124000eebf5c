"""Command-line conventions shared with model_signing: multi-value options and the path,
underscore spellings, P-521 keys, encrypted keys, ``gpuhash check`` and ``--device`` errors.

Everything runs in-process through ``gpuhash.cli.main``; expected digests come from the stdlib
reference, and model_signing itself checks the signatures said to be compatible with it.
"""

from __future__ import annotations

import datetime
import importlib
import io
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from cli_run import one_error_line, run
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gpuhash import reference as ref
from gpuhash.cli.parser import build_parser
from gpuhash.cli.signing import PASSWORD_ENV

ALG = "gh1-merkle-sha256-1k"


@pytest.fixture
def model(tmp_path: Path) -> Path:
    m = tmp_path / "model"
    (m / "sub").mkdir(parents=True)
    (m / "a.txt").write_bytes(b"a" * 1500)
    (m / "b.txt").write_bytes(b"b" * 10)
    (m / "c.bin").write_bytes(bytes(range(256)) * 9)
    (m / "sub" / "d.json").write_bytes(b'{"x": 1}')
    return m


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stdin is not a terminal (no password prompt) and no password comes from the environment,
    unless a test says otherwise."""
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.delenv(PASSWORD_ENV, raising=False)


def digest_line(model: Path, *ignored: str) -> str:
    _, artifact = ref.hash_model(str(model), ALG, ignored, False)
    return f"{ALG}:{artifact.hex()}\n"


def write_key(path: Path, curve: ec.EllipticCurve, password: bytes | None = None) -> Path:
    key = ec.generate_private_key(curve)
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if password is None
        else serialization.BestAvailableEncryption(password)
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    path.with_suffix(".pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


class SmallPKI:
    """A root, an intermediate and a code-signing leaf (P-521, as model_signing allows)."""

    def __init__(self, root: Path) -> None:
        root.mkdir()
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP384R1())
        int_key = ec.generate_private_key(ec.SECP256R1())
        self.leaf_key = ec.generate_private_key(ec.SECP521R1())

        def cert(cn: str, key: Any, issuer: str, issuer_key: Any, ca: bool) -> x509.Certificate:
            b = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                .add_extension(
                    x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
                )
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                    critical=False,
                )
            )
            usage = [ca is False] + [False] * 4 + [ca, ca, False, False]
            b = b.add_extension(x509.KeyUsage(*usage), critical=True)
            if not ca:
                b = b.add_extension(
                    x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
                )
            return b.sign(issuer_key, hashes.SHA256())

        def pem(name: str, c: x509.Certificate) -> Path:
            (root / name).write_bytes(c.public_bytes(serialization.Encoding.PEM))
            return root / name

        self.root = pem("root.pem", cert("root", ca_key, "root", ca_key, True))
        self.chain = pem("int.pem", cert("int", int_key, "root", ca_key, True))
        self.leaf = pem("leaf.pem", cert("signer", self.leaf_key, "int", int_key, False))
        self.key = root / "leaf-key.pem"
        self.key.write_bytes(
            self.leaf_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


# -- 1. options with several values never swallow the path --------------------------------------

IGNORE_ORDERINGS = [
    ["{m}", "--ignore-paths", "a.txt", "b.txt"],
    ["--ignore-paths", "a.txt", "b.txt", "{m}"],
    ["--ignore-paths", "a.txt", "--ignore-paths", "b.txt", "{m}"],
    ["{m}", "--ignore-paths", "a.txt", "--ignore-paths", "b.txt"],
    ["--ignore-paths", "a.txt", "{m}", "--ignore-paths", "b.txt"],
    ["--ignore-paths", "a.txt", "b.txt", "--no-mmap", "{m}"],
    ["--ignore-paths", "a.txt", "{m}", "--ignore_paths", "b.txt", "--no-mmap"],
    ["--ignore-paths", "a.txt", "b.txt", "--", "{m}"],
    ["--ignore-paths=a.txt", "--ignore-paths", "b.txt", "{m}"],
]


def _fill(argv: list[str], **names: Path) -> list[str]:
    return [a.format(**{k: os.fspath(v) for k, v in names.items()}) for a in argv]


@pytest.mark.parametrize("command", ["digest", "hash"])
@pytest.mark.parametrize("ordering", IGNORE_ORDERINGS)
def test_ignore_paths_in_any_order(
    model: Path, capsys: pytest.CaptureFixture[str], command: str, ordering: list[str]
) -> None:
    code, out, err = run(capsys, command, "-a", ALG, *_fill(ordering, m=model))
    assert (code, err) == (0, "")
    assert out.endswith(digest_line(model, "a.txt", "b.txt"))
    if command == "hash":
        assert "a.txt" not in out
        assert "b.txt" not in out
        assert "c.bin" in out


def test_prove_with_ignore_paths_before_the_path(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proof = tmp_path / "p.json"
    argv = ["--ignore-paths", "a.txt", "b.txt", os.fspath(model)]
    code, _, err = run(capsys, "prove", *argv, "--object", "c.bin", "--range", "0:10", "-o", proof)
    assert (code, err) == (0, "")
    assert json.loads(proof.read_text())["objectName"] == "c.bin"
    code, _, err = run(capsys, "prove", *argv, "--object", "a.txt", "--range", "0:1", "-o", proof)
    assert code == 2
    assert "a.txt" in err


def test_a_missing_path_is_still_a_usage_error(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(model)
        code, out, err = run(capsys, "digest", "--ignore-paths", "a.txt")
    assert (code, out) == (2, "")
    assert err.endswith("error: the following arguments are required: PATH\n")


def test_two_values_read_as_model_signing_reads_them(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """model_signing takes one value per --ignore-paths: `--ignore-paths a.txt MODEL` ignores
    a.txt in MODEL. gpuhash reads it the same way (and MODEL is not ignored)."""
    code, out, _ = run(capsys, "digest", "-a", ALG, "--ignore-paths", "a.txt", model)
    assert (code, out) == (0, digest_line(model, "a.txt"))


@pytest.fixture
def key(tmp_path: Path) -> Path:
    return write_key(tmp_path / "key.pem", ec.SECP256R1())


VERIFY_ORDERINGS = [
    ["{m}", "--only", "a.txt", "c.bin"],
    ["--only", "a.txt", "c.bin", "{m}"],
    ["--only", "a.txt", "--only", "c.bin", "{m}"],
    ["--only", "a.txt", "{m}", "--only", "c.bin"],
    ["--ignore-paths", "b.txt", "--only", "a.txt", "c.bin", "{m}"],
    ["--only", "a.txt", "c.bin", "--ignore-paths", "b.txt", "{m}"],
    ["--only", "a.txt", "{m}", "--ignore-paths", "b.txt", "--only", "c.bin"],
]


@pytest.mark.parametrize("ordering", VERIFY_ORDERINGS)
def test_sign_and_verify_with_options_before_the_model(
    model: Path,
    tmp_path: Path,
    key: Path,
    capsys: pytest.CaptureFixture[str],
    ordering: list[str],
) -> None:
    sig = tmp_path / "model.sig"
    signed = ["--ignore-paths", "sub/d.json", "b.txt", os.fspath(model)]
    code, _, err = run(capsys, "sign", "key", *signed, "--signature", sig, "--private_key", key)
    assert (code, err) == (0, "")
    verify = ["verify", "key", "--signature", sig, "--public_key", key.with_suffix(".pub")]
    code, out, err = run(capsys, *verify, *_fill(ordering, m=model))
    assert (code, err) == (0, ""), out
    assert out.startswith(f"verified {model}: 2 objects")
    # The files left out when signing are extra when nothing selects.
    code, out, err = run(capsys, *verify, "--ignore-paths", "b.txt", model)
    assert code == 1
    assert out == "extra (not signed): sub/d.json\n"


CHAIN_ORDERINGS = [
    ["{m}", "--certificate-chain", "{r}", "{i}"],
    ["--certificate-chain", "{r}", "{i}", "{m}"],
    ["--certificate_chain", "{r}", "--certificate_chain", "{i}", "{m}"],
    ["--certificate-chain", "{r}", "{m}", "--certificate-chain", "{i}"],
]


@pytest.mark.parametrize("ordering", CHAIN_ORDERINGS)
def test_certificate_chains_in_any_order(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], ordering: list[str]
) -> None:
    pki = SmallPKI(tmp_path / "pki")
    sig = tmp_path / "model.sig"
    code, _, err = run(
        capsys,
        "sign",
        "certificate",
        "--certificate-chain",
        pki.chain,
        model,
        "--signature",
        sig,
        "--private-key",
        pki.key,
        "--signing-certificate",
        pki.leaf,
    )
    assert (code, err) == (0, "")
    filled = _fill(ordering, m=model, r=pki.root, i=pki.chain)
    code, out, err = run(capsys, "verify", "certificate", "--signature", sig, *filled)
    assert (code, err) == (0, ""), out


# -- 2. model_signing's spellings ---------------------------------------------------------------

#: model_signing options gpuhash does not take, and why.
UNSUPPORTED = {
    # PKCS #11 tokens are not supported: no pkcs11-key / pkcs11-certificate methods.
    "--pkcs11_uri": "no PKCS #11 signing",
    # Owned by the logging part of issue 16, not the option parser.
    "--log_fingerprints": "certificate fingerprints: logging",
}


def _model_signing_options() -> dict[tuple[str, str], list[tuple[str, bool]]]:
    """(command, method) -> [(option string, takes a value)] from model_signing's click CLI."""
    click = importlib.import_module("click")
    ms_cli = importlib.import_module("model_signing._cli")
    found: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for command in ("sign", "verify"):
        group = ms_cli.main.commands[command]
        for method, cmd in group.commands.items():
            found[(command, method)] = [
                (name, not param.is_flag)
                for param in cmd.params
                if isinstance(param, click.Option)
                for name in [*param.opts, *param.secondary_opts]
            ]
    return found


def test_model_signing_options_are_all_read() -> None:
    found = _model_signing_options()
    assert ("sign", "key") in found
    assert ("verify", "certificate") in found
    assert any(name == "--allow_symlinks" for name, _ in found[("sign", "key")])
    parser = build_parser()
    checked = 0
    for (command, method), options in sorted(found.items()):
        if method.startswith("pkcs11"):
            continue  # the methods themselves are not supported
        for name, takes_value in options:
            if name in UNSUPPORTED or name in ("-h", "--help"):
                continue
            argv = [command, method, "MODEL", "--signature", "S", name]
            if takes_value:
                argv.append("VALUE")
            try:
                args = parser.parse_args(argv)
            except SystemExit:  # pragma: no cover - the failure message names the option
                pytest.fail(f"gpuhash {command} {method} does not take {name}")
            assert args.path == "MODEL", (command, method, name)
            checked += 1
    assert checked >= 25


def test_unsupported_options_really_are_model_signing_options() -> None:
    """The list of exceptions names nothing model_signing does not have (no stale excuses)."""
    every = {name for options in _model_signing_options().values() for name, _ in options}
    assert set(UNSUPPORTED) <= every


TRUST = (
    Path(__file__).parent
    / "data"
    / "model-signing-goldens"
    / "sigstore-production-trust-config.json"
)


def _jwt(audience: str) -> str:
    """An unsigned OIDC token with the claims sigstore-python checks (before any network)."""
    import base64
    import time

    def part(claims: Mapping[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims: dict[str, object] = {"aud": audience, "iss": "https://oauth2.sigstore.dev/auth"}
    claims |= {"sub": "s", "iat": now, "nbf": now, "exp": now + 600, "email": "a@example.com"}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


def test_sigstore_client_id_reaches_the_token_check(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A token for sigstore's own client is refused under --client_id another (offline: the
    token check comes before Fulcio); the same token passes that check for its client."""
    oidc: Any = importlib.import_module("sigstore.oidc")
    token = _jwt("sigstore")
    assert oidc.IdentityToken(token, "sigstore").identity == "a@example.com"
    sig = tmp_path / "s.sig"
    argv = ["sign", "sigstore", model, "--signature", sig, "--trust_config", TRUST]
    code, out, err = run(capsys, *argv, "--identity_token", token, "--client_id", "another")
    assert (code, out) == (2, "")
    one_error_line(err, "Sigstore signing failed: Identity token is malformed or missing claims")
    assert not sig.exists()


@pytest.mark.parametrize("command", ["sign", "verify"])
def test_staging_and_a_trust_configuration_exclude_each_other(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    extra = (
        ["--identity", "a@example.com", "--identity_provider", "x"] if command == "verify" else []
    )
    argv = [command, "sigstore", model, "--signature", tmp_path / "s.sig", *extra]
    code, out, err = run(capsys, *argv, "--use_staging", "--trust_config", tmp_path / "t.json")
    assert (code, out) == (2, "")
    one_error_line(err, "--use-staging and --trust-config exclude each other")


@pytest.mark.parametrize(
    ("spelling", "dest", "value"),
    [
        ("--allow_symlinks", "allow_symlinks", True),
        ("--allow-symlinks", "allow_symlinks", True),
        ("--ignore_unsigned_files", "ignore_unsigned_files", True),
        ("--no-ignore_unsigned_files", "ignore_unsigned_files", False),
        ("--no-ignore-unsigned-files", "ignore_unsigned_files", False),
    ],
)
def test_flags_under_both_spellings(spelling: str, dest: str, value: bool) -> None:
    args = build_parser().parse_args(["verify", "key", "M", "--signature", "S", spelling])
    assert getattr(args, dest) is value


def test_allow_symlinks_underscore_on_hashing_commands(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (model / "link").symlink_to("c.bin")
    code, _, err = run(capsys, "digest", model)
    assert code == 2
    assert "link" in err
    code, out, err = run(capsys, "digest", "-a", ALG, "--allow_symlinks", model)
    assert (code, err) == (0, "")
    _, artifact = ref.hash_model(str(model), ALG, (), True)
    assert out == f"{ALG}:{artifact.hex()}\n"


# -- 3. P-256, P-384 and P-521 keys -------------------------------------------------------------


@pytest.mark.parametrize(
    "curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()], ids=lambda c: c.name
)
def test_sign_with_every_model_signing_curve(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], curve: ec.EllipticCurve
) -> None:
    model_signing: Any = importlib.import_module("model_signing")
    key = write_key(tmp_path / "key.pem", curve)
    pub = key.with_suffix(".pub")
    for fmt in ("gpuhash", "oms"):
        sig = tmp_path / f"{fmt}.sig"
        code, _, err = run(
            capsys, "sign", "key", model, "--signature", sig, "--private-key", key, "--format", fmt
        )
        assert (code, err) == (0, "")
        code, out, err = run(
            capsys, "verify", "key", model, "--signature", sig, "--public-key", pub
        )
        assert (code, err) == (0, ""), out
    # model_signing verifies the signature in its own format with its own code.
    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=pub).set_hashing_config(
        model_signing.hashing.Config().use_file_serialization(hashing_algorithm="sha256")
    ).verify(model, tmp_path / "oms.sig")
    # ... and a signature by another key of the same curve fails there too.
    other = write_key(tmp_path / "other.pem", curve)
    with pytest.raises(ValueError, match=r"(?i)signature"):
        model_signing.verifying.Config().use_elliptic_key_verifier(
            public_key=other.with_suffix(".pub")
        ).set_hashing_config(
            model_signing.hashing.Config().use_file_serialization(hashing_algorithm="sha256")
        ).verify(model, tmp_path / "oms.sig")


# -- 4. encrypted private keys -----------------------------------------------------------------


@pytest.fixture
def encrypted(tmp_path: Path) -> Path:
    return write_key(tmp_path / "enc.pem", ec.SECP384R1(), "pässword".encode())


def _sign(*extra: object, key: Path, sig: Path, model: Path) -> list[object]:
    return ["sign", "key", model, "--signature", sig, "--private-key", key, *extra]


def test_encrypted_key_with_password_option(
    model: Path, tmp_path: Path, encrypted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sig = tmp_path / "s.sig"
    code, _, err = run(
        capsys, *_sign("--password", "pässword", key=encrypted, sig=sig, model=model)
    )
    assert (code, err) == (0, "")
    pub = encrypted.with_suffix(".pub")
    assert run(capsys, "verify", "key", model, "--signature", sig, "--public-key", pub)[0] == 0


def test_encrypted_key_with_password_from_environment(
    model: Path,
    tmp_path: Path,
    encrypted: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "pässword")
    sig = tmp_path / "s.sig"
    code, _, err = run(capsys, *_sign(key=encrypted, sig=sig, model=model))
    assert (code, err) == (0, "")
    # The variable is not a password for keys that have none.
    plain = write_key(tmp_path / "plain.pem", ec.SECP256R1())
    assert run(capsys, *_sign(key=plain, sig=sig, model=model))[0] == 0


def test_encrypted_key_with_password_at_the_prompt(
    model: Path,
    tmp_path: Path,
    encrypted: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    prompts: list[str] = []

    def getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return "pässword"

    monkeypatch.setattr("sys.stdin", Terminal(""))
    monkeypatch.setattr("getpass.getpass", getpass)
    sig = tmp_path / "s.sig"
    code, _, err = run(capsys, *_sign(key=encrypted, sig=sig, model=model))
    assert (code, err, prompts) == (0, "", [f"password for {encrypted}: "])


@pytest.mark.parametrize(
    ("how", "needle"),
    [
        (["--password", "hunter2-bad"], "wrong password for the private key"),
        ([], "the private key is encrypted; give its password with --password"),
    ],
)
def test_wrong_or_missing_password(
    model: Path,
    tmp_path: Path,
    encrypted: Path,
    capsys: pytest.CaptureFixture[str],
    how: list[str],
    needle: str,
) -> None:
    sig = tmp_path / "s.sig"
    code, out, err = run(capsys, *_sign(*how, key=encrypted, sig=sig, model=model))
    assert (code, out) == (2, "")
    one_error_line(err, f"{encrypted}: ", needle)
    assert "hunter2" not in err  # the password is never echoed
    assert not sig.exists()


def test_password_for_a_key_without_one(
    model: Path, tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sig = tmp_path / "s.sig"
    code, _, err = run(capsys, *_sign("--password", "x", key=key, sig=sig, model=model))
    assert code == 2
    one_error_line(err, "the private key is not encrypted, yet a password was given")


def test_certificate_signing_with_an_encrypted_key(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pki = SmallPKI(tmp_path / "pki")
    enc = tmp_path / "enc.pem"
    enc.write_bytes(
        pki.leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    sig = tmp_path / "s.sig"
    argv = ["sign", "certificate", model, "--signature", sig, "--private_key", enc]
    code, _, err = run(
        capsys,
        *argv,
        "--signing_certificate",
        pki.leaf,
        "--certificate_chain",
        pki.chain,
        "--password",
        "pw",
    )
    assert (code, err) == (0, "")
    verify = ["verify", "certificate", model, "--signature", sig, "--certificate_chain"]
    assert run(capsys, *verify, pki.root, pki.chain)[0] == 0


# -- 5. gpuhash check ------------------------------------------------------------------------------


@pytest.fixture
def manifest(model: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = model.parent / "model.json"
    assert run(capsys, "hash", "-a", ALG, model, "-o", path)[0] == 0
    return path


def test_check_passes(model: Path, manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", manifest, model)
    assert (code, err) == (0, "")
    assert out == f"checked {model}: 4 objects, {ALG}, against the manifest {manifest} (unsigned)\n"


def test_check_binary_manifest_inside_the_model_by_default(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inside = model / "MANIFEST.pb"
    assert run(capsys, "hash", "-a", ALG, model, "-o", inside)[0] == 0
    code, out, err = run(capsys, "check", inside)
    assert (code, err) == (0, "")
    assert out.startswith(f"checked {model}: 4 objects")  # the manifest itself is left out


def test_check_a_tampered_file(
    model: Path, manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open(model / "c.bin", "r+b") as f:
        f.seek(1000)
        f.write(b"!")
    code, out, err = run(capsys, "check", manifest, model)
    assert code == 1
    assert out == "changed: c.bin\n"
    one_error_line(err, "check failed: the model does not match its manifest: 1 changed")


def test_check_missing_and_extra(
    model: Path, manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (model / "a.txt").unlink()
    (model / "new.bin").write_bytes(b"new")
    code, out, err = run(capsys, "check", manifest, model)
    assert code == 1
    assert out == "missing: a.txt\nextra (not in the manifest): new.bin\n"
    one_error_line(err, "0 changed, 1 missing, 1 extra")


def test_check_only_selects(
    model: Path, manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (model / "b.txt").write_bytes(b"changed")
    (model / "new.bin").write_bytes(b"new")
    for argv in (
        [manifest, model, "--only", "a.txt", "sub/*"],
        ["--only", "a.txt", "sub/*", manifest, model],
        ["--only", "a.txt", "--only", "sub/*", manifest, model],
        [manifest, "--only", "a.txt", "sub/*", model],  # MODEL from the end of the values
    ):
        code, out, err = run(capsys, "check", *argv)
        assert (code, err) == (0, ""), argv
        assert out.startswith(f"checked {model}: 2 objects")
    code, out, _ = run(capsys, "check", manifest, model, "--only", "*.txt")
    assert (code, out) == (1, "changed: b.txt\n")
    code, _, err = run(capsys, "check", manifest, model, "--only", "nothing*")
    assert code == 1
    one_error_line(err, "--only nothing*: matches no object the manifest lists")


def test_check_objects_must_agree(
    model: Path, manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "check", manifest, model, "--objects", "tensors")
    assert code == 1
    one_error_line(err, "manifest: its objects are files, not tensors")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"not a manifest at all\n", "not a gpuhash manifest"),
        (b'{"hello": "world"}', "not a gpuhash manifest"),
        (b"\xff\xfe\x00garbage", "not a gpuhash manifest"),
        (b"", "manifest"),
    ],
)
def test_check_something_that_is_not_a_manifest(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, needle: str
) -> None:
    bogus = tmp_path / "bogus"
    bogus.write_bytes(content)
    code, out, err = run(capsys, "check", bogus, model)
    assert (code, out) == (2, "")
    one_error_line(err, f"{bogus}: ", needle)


def test_check_unreadable_manifest_and_missing_model(
    model: Path, manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "check", tmp_path / "nope.json", model)
    assert code == 2
    one_error_line(err, "nope.json: cannot read the manifest")
    code, _, err = run(capsys, "check", manifest, tmp_path / "gone")
    assert code == 2
    one_error_line(err, "gone: no such file or directory")


# -- 6. --device for a backend without devices -------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["digest", "{m}"],
        ["hash", "{m}"],
        ["check", "{j}", "{m}"],
        ["prove", "{m}", "--object", "c.bin", "--range", "0:1", "-o", "{p}"],
        ["verify", "key", "{m}", "--signature", "{s}", "--public-key", "{k}"],
        ["sign", "key", "{m}", "--signature", "{s}", "--private-key", "{k}"],
        ["selftest", "cpu"],
    ],
    ids=lambda a: a[0],
)
def test_device_for_the_cpu_backend(
    model: Path,
    manifest: Path,
    tmp_path: Path,
    key: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    filled = _fill(argv, m=model, j=manifest, p=tmp_path / "p.json", s=tmp_path / "s.sig", k=key)
    if argv[0] != "selftest":
        filled += ["--backend", "cpu"]
    code, out, err = run(capsys, *filled, "--device", "0")
    assert (code, out) == (2, "")
    one_error_line(err, "backend 'cpu' has no choice of device; leave out --device")
    assert not re.search(r"TypeError|unexpected keyword|__init__", err)
    assert not (tmp_path / "s.sig").exists()
    assert not (tmp_path / "p.json").exists()
