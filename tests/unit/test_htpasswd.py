"""htpasswd parsing, loading and editing (teamgate.auth.htpasswd)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from teamgate.auth.htpasswd import (
    HtpasswdError,
    HtpasswdFile,
    load_htpasswd,
    parse_htpasswd,
    validate_username,
)
from teamgate.auth.passwords import hash_password, verify_password
from teamgate.errors import ConfigError, Invalid

SOURCE = "/etc/torc/htpasswd"
H1 = "$2b$04$jaMN8MMv.93GCWPuxxxUC.ruHsTXUhQfpZl0.6WhY9CbruF1Y6tPG"
H2 = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
H3 = "$2y$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK"


# --- parsing (ported from Torc's htpasswd.rs unit tests, plus more) -----------------------------


def test_comments_blank_lines_and_all_three_prefixes_load() -> None:
    text = f"# Torc users\n\nalice:{H1}\nbob:{H2}\n   \n  # indented comment\ncarol:{H3}\n"
    users = parse_htpasswd(text, source=SOURCE)
    assert users == {"alice": H1, "bob": H2, "carol": H3}
    assert "dave" not in users


def test_line_without_colon_is_an_error_with_file_and_line() -> None:
    text = f"# header\nalice:{H1}\nbob\n"
    with pytest.raises(HtpasswdError) as caught:
        parse_htpasswd(text, source=SOURCE)
    assert caught.value.message == "/etc/torc/htpasswd line 3: expected 'username:hash'"


@pytest.mark.parametrize(
    "hashed",
    [
        "$apr1$abcdefgh$0123456789abcdefghijkl",
        "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
        "$1$salt$hash",
        "plaintext",
        "",
        "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
    ],
)
def test_non_bcrypt_hash_is_an_error(hashed: str) -> None:
    text = f"alice:{H1}\n\n#\n\nbob:{hashed}\n"
    with pytest.raises(HtpasswdError) as caught:
        parse_htpasswd(text, source=SOURCE)
    assert caught.value.message == (
        "/etc/torc/htpasswd line 5: password hash for user 'bob' is not a bcrypt hash "
        "(must start with $2a$, $2b$ or $2y$)"
    )


@pytest.mark.parametrize(
    "hashed",
    [
        H1[:-1],
        H1 + "x",
        "$2b$99" + H1[6:],
        "$2b$04$" + "!" * 53,
        "$2b$",
    ],
)
def test_bcrypt_prefix_with_wrong_shape_is_an_error(hashed: str) -> None:
    with pytest.raises(HtpasswdError, match=r"^x line 1: .*'bob' is not a well-formed bcrypt hash"):
        parse_htpasswd(f"bob:{hashed}", source="x")


def test_empty_username_is_an_error() -> None:
    with pytest.raises(HtpasswdError) as caught:
        parse_htpasswd(f"alice:{H1}\n  :{H2}\n", source=SOURCE)
    assert caught.value.message == "/etc/torc/htpasswd line 2: empty username"


def test_duplicate_user_is_an_error_naming_both_lines() -> None:
    text = f"alice:{H1}\nbob:{H2}\n# note\nbob:{H3}\n"
    with pytest.raises(HtpasswdError) as caught:
        parse_htpasswd(text, source=SOURCE)
    assert caught.value.message == (
        "/etc/torc/htpasswd line 4: duplicate user 'bob' (already defined on line 2)"
    )


def test_split_at_first_colon_and_strip() -> None:
    users = parse_htpasswd(f"  alice@example.com :  {H1}  \n", source=SOURCE)
    assert users == {"alice@example.com": H1}


def test_crlf_and_byte_order_mark_are_handled(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_bytes(f"\ufeff# c\r\nalice:{H1}\r\n\r\nbob:{H2}".encode())
    assert load_htpasswd(path) == {"alice": H1, "bob": H2}


def test_line_numbers_count_only_real_line_breaks() -> None:
    # \x0c (form feed) is not a line break here, so "line 2" is the line an editor shows.
    with pytest.raises(HtpasswdError, match=r"^s line 2: "):
        parse_htpasswd(f"alice:{H1}\x0c\nbroken\n", source="s")


def test_htpasswd_error_is_a_config_error() -> None:
    assert issubclass(HtpasswdError, ConfigError)


def test_parse_of_empty_text_is_empty() -> None:
    assert parse_htpasswd("# nothing\n\n", source=SOURCE) == {}


# --- loading ------------------------------------------------------------------------------------


def test_load_reads_file(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(f"alice:{H1}\n")
    assert load_htpasswd(path) == {"alice": H1}
    assert load_htpasswd(str(path)) == {"alice": H1}


def test_load_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing"
    with pytest.raises(HtpasswdError) as caught:
        load_htpasswd(path)
    assert caught.value.message == f"cannot read htpasswd file {path}: No such file or directory"


def test_load_directory(tmp_path: Path) -> None:
    with pytest.raises(HtpasswdError, match=f"^cannot read htpasswd file {tmp_path}: "):
        load_htpasswd(tmp_path)


def test_load_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_bytes(b"al\xffce:" + H1.encode())
    with pytest.raises(HtpasswdError, match="not UTF-8"):
        load_htpasswd(path)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_load_without_users_is_an_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(text)
    with pytest.raises(HtpasswdError) as caught:
        load_htpasswd(path)
    assert caught.value.message == f"no users in htpasswd file {path}"


def test_load_reports_the_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(f"alice:{H1}\nbob:secret\n")
    with pytest.raises(HtpasswdError, match=f"^{path} line 2: password hash for user 'bob'"):
        load_htpasswd(path)


# --- user names ---------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["alice", "alice@example.com", "a.b-c_d", "Jürgen", "bob smith"])
def test_valid_user_names(user: str) -> None:
    assert validate_username(user) == user


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        ("", "must not be empty"),
        ("a:b", "must not contain ':'"),
        ("a\nb", "line breaks"),
        ("a\rb", "line breaks"),
        ("a\x00b", "control characters"),
        (" alice", "whitespace"),
        ("alice\t", "control characters"),
        ("alice ", "whitespace"),
        ("#alice", "comment"),
    ],
)
def test_invalid_user_names(user: str, reason: str) -> None:
    with pytest.raises(Invalid, match=reason):
        validate_username(user)


# --- editing ------------------------------------------------------------------------------------


def test_read_missing_file_is_empty(tmp_path: Path) -> None:
    htfile = HtpasswdFile.read(tmp_path / "none")
    assert htfile.users() == []
    assert htfile.get("alice") is None


def test_read_validates_like_load(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(f"alice:{H1}\nalice:{H2}\n")
    with pytest.raises(HtpasswdError, match="line 2: duplicate user 'alice'"):
        HtpasswdFile.read(path)


def test_set_adds_then_updates_in_place(tmp_path: Path) -> None:
    htfile = HtpasswdFile()
    assert htfile.set("alice", H1) is True
    assert htfile.set("bob", H2) is True
    assert htfile.set("alice", H3) is False
    assert htfile.users() == ["alice", "bob"]
    assert htfile.get("alice") == H3


def test_edits_keep_comments_blank_lines_and_order(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    original = (
        "# Team users — keep sorted by team\n"
        "\n"
        "# ML team\n"
        f"alice:{H1}\n"
        f"  bob : {H2}\n"
        "\n"
        "# Data team\n"
        f"carol:{H3}\n"
        f"dave:{H1}\n"
    )
    path.write_text(original)
    htfile = HtpasswdFile.read(path)
    assert htfile.set("bob", H3) is False
    assert htfile.remove("carol") is True
    assert htfile.set("erin", H2) is True
    htfile.write(path)
    assert path.read_text() == (
        "# Team users — keep sorted by team\n"
        "\n"
        "# ML team\n"
        f"alice:{H1}\n"
        f"bob:{H3}\n"
        "\n"
        "# Data team\n"
        f"dave:{H1}\n"
        f"erin:{H2}\n"
    )


def test_unchanged_file_is_written_back_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    text = f"# c\n\n alice : {H1}\n\t\n#x\nbob:{H2}\n"
    path.write_text(text)
    HtpasswdFile.read(path).write(path)
    assert path.read_text() == text


def test_remove_unknown_user_is_false() -> None:
    htfile = HtpasswdFile()
    htfile.set("alice", H1)
    assert htfile.remove("bob") is False
    assert htfile.users() == ["alice"]


@pytest.mark.parametrize("user", ["", "a:b", "a\nb", "#x"])
def test_set_refuses_bad_user_names(user: str) -> None:
    with pytest.raises(Invalid):
        HtpasswdFile().set(user, H1)


@pytest.mark.parametrize("hashed", ["plain", "$apr1$x$y", H1[:-2]])
def test_set_refuses_non_bcrypt_hashes(hashed: str) -> None:
    with pytest.raises(Invalid, match="not a bcrypt hash"):
        HtpasswdFile().set("alice", hashed)


def test_write_mode_is_0600_even_over_a_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(f"alice:{H1}\n")
    path.chmod(0o644)
    old_umask = os.umask(0)
    try:
        HtpasswdFile.read(path).write(path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_creates_the_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "torc" / "htpasswd"
    htfile = HtpasswdFile()
    htfile.set("alice", H1)
    htfile.write(path)
    assert path.read_text() == f"alice:{H1}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    htfile = HtpasswdFile()
    for name in ["alice", "bob", "carol"]:
        htfile.set(name, H1)
        htfile.write(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["htpasswd"]


def test_write_replaces_the_inode_rather_than_rewriting_it(tmp_path: Path) -> None:
    # A reader holding the old file open keeps seeing complete old content.
    path = tmp_path / "htpasswd"
    path.write_text(f"alice:{H1}\n")
    with path.open() as reader:
        htfile = HtpasswdFile.read(path)
        htfile.set("bob", H2)
        htfile.write(path)
        assert reader.read() == f"alice:{H1}\n"
    assert path.read_text() == f"alice:{H1}\nbob:{H2}\n"


def test_failed_replace_keeps_the_old_file_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A crash between writing and renaming cannot be produced for real, so os.replace fails here.
    path = tmp_path / "htpasswd"
    path.write_text(f"alice:{H1}\n")
    htfile = HtpasswdFile.read(path)
    htfile.set("bob", H2)

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(HtpasswdError) as caught:
        htfile.write(path)
    assert caught.value.message == (f"cannot write htpasswd file {path}: No space left on device")
    assert path.read_text() == f"alice:{H1}\n"
    assert [p.name for p in tmp_path.iterdir()] == ["htpasswd"]


def test_write_error_names_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(HtpasswdError, match=f"^cannot write htpasswd file {blocker}/htpasswd: "):
        HtpasswdFile().write(blocker / "htpasswd")


def test_write_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.write_text(f"alice:{H1}\n")
    link = tmp_path / "link"
    link.symlink_to(real)
    htfile = HtpasswdFile.read(link)
    htfile.set("bob", H2)
    htfile.write(link)
    assert link.is_symlink()
    assert real.read_text() == f"alice:{H1}\nbob:{H2}\n"


def test_written_file_loads_and_verifies(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    htfile = HtpasswdFile()
    htfile.set("alice@example.com", hash_password("wonderland", cost=4))
    htfile.write(path)
    users = load_htpasswd(path)
    assert verify_password("wonderland", users["alice@example.com"])


def test_the_name_anonymous_is_refused_at_load_with_file_and_line(tmp_path: Path) -> None:
    """It names callers without credentials: a user by that name would become one of them."""
    path = tmp_path / "htpasswd"
    path.write_text(f"alice:{H1}\nanonymous:{H2}\n")
    with pytest.raises(
        HtpasswdError, match=rf"^{path} line 2: the user name 'anonymous' is reserved"
    ):
        load_htpasswd(path)
    with pytest.raises(Invalid, match="reserved"):
        validate_username("anonymous")
    editing = HtpasswdFile.read(path)  # the editor reads it, so that it can be removed
    assert editing.remove("anonymous") and editing.users() == ["alice"]
    assert parse_htpasswd(f"Anonymous:{H1}\n", source=SOURCE) == {"Anonymous": H1}
