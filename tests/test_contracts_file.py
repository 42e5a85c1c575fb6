"""The contracts file: TOML or CSV in, the whole list of Contracts or one clear error out."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from mailbot.contracts_file import changed_contract, contract_fields, load_contracts_file
from mailbot.core.contracts import Contract
from mailbot.core.tiers import Tier
from mailbot.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent

VALID_TOML = """
[[contract]]
id = "acme-vip"
customer = "ACME Sp. z o.o."
tier = "vip"
addresses = ["IT@Acme.pl"]
domains = ["ACME.pl"]
valid_from = 2025-01-01
valid_until = 2026-12-31
monthly_fee = 1500.10
package_hours = "2.5"
free_unjustified = 3
hourly_rate = 150
ip_allowlist = ["10.0.0.0/8", "192.0.2.7"]
procedures = "Dzwonić najpierw do Jana.\\nPotem mail."
phone = "+48 600 100 200"
billing_email = "Faktury@Acme.pl"

[[contract]]
id = "kowalski"
customer = "Kowalski i Wspólnicy"
tier = "warranty"
addresses = ["biuro@kowalski.pl", "jan@kowalski.pl"]
valid_from = 2025-03-01
language = "en"
nip = "1234567890"
"""

VALID_CSV = """\
id,customer,tier,addresses,domains,valid_from,valid_until,language,nip,monthly_fee,\
package_hours,free_unjustified,hourly_rate,ip_allowlist,procedures,phone,billing_email
acme-vip,ACME Sp. z o.o.,vip,IT@Acme.pl,ACME.pl,2025-01-01,2026-12-31,,,1500.10,2.5,3,150,\
10.0.0.0/8 192.0.2.7,"Dzwonić najpierw do Jana.
Potem mail.",+48 600 100 200,Faktury@Acme.pl
kowalski,Kowalski i Wspólnicy,warranty,biuro@kowalski.pl jan@kowalski.pl,,2025-03-01,,en,\
1234567890,,,,,,,,
"""

EXPECTED = [
    Contract(
        id="acme-vip",
        customer="ACME Sp. z o.o.",
        tier=Tier.VIP,
        addresses=("it@acme.pl",),
        domains=("acme.pl",),
        valid_from=date(2025, 1, 1),
        valid_until=date(2026, 12, 31),
        language="",  # left out: the language the customer writes in (issue 18)
        monthly_fee=Decimal("1500.10"),
        package_hours=Decimal("2.5"),
        free_unjustified=3,
        hourly_rate=Decimal(150),
        ip_allowlist=("10.0.0.0/8", "192.0.2.7/32"),
        procedures="Dzwonić najpierw do Jana.\nPotem mail.",
        phone="+48 600 100 200",
        billing_email="faktury@acme.pl",
    ),
    Contract(
        id="kowalski",
        customer="Kowalski i Wspólnicy",
        tier=Tier.WARRANTY,
        addresses=("biuro@kowalski.pl", "jan@kowalski.pl"),
        domains=(),
        valid_from=date(2025, 3, 1),
        valid_until=None,
        language="en",
        nip="1234567890",
    ),
]


def write(directory: Path, text: str, name: str = "contracts.toml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(directory: Path, text: str, name: str = "contracts.toml") -> str:
    path = write(directory, text, name)
    with pytest.raises(ConfigError) as caught:
        load_contracts_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    return message.removeprefix(f"{path}: ")


def test_toml_file(tmp_path: Path) -> None:
    assert load_contracts_file(write(tmp_path, VALID_TOML)) == EXPECTED


def test_csv_file_gives_the_same_contracts(tmp_path: Path) -> None:
    assert load_contracts_file(write(tmp_path, VALID_CSV, "contracts.csv")) == EXPECTED


def test_csv_with_a_byte_order_mark_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "contracts.CSV"
    path.write_bytes(b"\xef\xbb\xbf" + VALID_CSV.replace("\n", "\n\n", 1).encode())

    assert load_contracts_file(path) == EXPECTED


def test_a_file_that_says_it_has_no_contracts_has_none(tmp_path: Path) -> None:
    assert load_contracts_file(write(tmp_path, "# none yet\n")) == []
    assert load_contracts_file(write(tmp_path, "id,customer\n", "c.csv")) == []


@pytest.mark.parametrize("name", ["contracts.csv", "contracts.toml"])
@pytest.mark.parametrize("content", [b"", b"\n \n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n"])
def test_an_empty_file_is_refused(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: the file is empty;"):
        load_contracts_file(path)


@pytest.mark.parametrize("name", ["contracts.csv", "contracts.toml"])
def test_a_nul_byte_is_refused_naming_the_line(tmp_path: Path, name: str) -> None:
    text = VALID_CSV if name.endswith(".csv") else VALID_TOML
    lines = text.splitlines(keepends=True)
    lines[1] = lines[1].replace("a", "a\0", 1)
    path = tmp_path / name
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: line 2: a NUL byte"):
        load_contracts_file(path)


def test_the_example_contracts_file_loads() -> None:
    contracts = load_contracts_file(REPO / "contracts.example.toml")

    assert sorted(contract.tier for contract in contracts) == sorted(Tier)
    assert any("acme.pl" in contract.domains for contract in contracts)


CONTRACT = """
[[contract]]
id = "first"
customer = "Pierwsza Sp. z o.o."
tier = "vip"
domains = ["pierwsza.pl"]
valid_from = 2025-01-01
"""


def second(*lines: str) -> str:
    """The valid CONTRACT, then a second contract with id "acme-vip" made of ``lines``."""
    fields = {
        "id": '"acme-vip"',
        "customer": '"ACME"',
        "tier": '"vip"',
        "valid_from": "2025-01-01",
    }
    for line in lines:
        name, _, value = line.partition(" = ")
        fields[name] = value
    body = "\n".join(f"{name} = {value}" for name, value in fields.items() if value)
    return CONTRACT + "\n[[contract]]\n" + body + "\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            second('valid_until = "soon"'),
            'contract #2 (id "acme-vip"): valid_until: expected a date like 2026-12-31, got "soon"',
        ),
        (
            second("valid_until = 2026-12-31T10:00:00"),
            'contract #2 (id "acme-vip"): valid_until: expected a date like 2026-12-31, got 2026',
        ),
        (second("valid_from = "), 'contract #2 (id "acme-vip"): valid_from: missing'),
        (second("id = "), "contract #2: id: missing"),
        (second("id = 7"), "contract #2: id: expected a non-empty string, got 7"),
        (second("customer = "), 'contract #2 (id "acme-vip"): customer: missing'),
        (second('customer = " "'), 'contract #2 (id "acme-vip"): customer: expected a non-empty'),
        (second("tier = "), 'contract #2 (id "acme-vip"): tier: missing'),
        (
            second('tier = "gold"'),
            'contract #2 (id "acme-vip"): tier: expected one of warranty, vip, post_warranty, '
            'got "gold"',
        ),
        (
            second('addresses = "it@acme.pl"'),
            'contract #2 (id "acme-vip"): addresses: expected a list of e-mail addresses, '
            'got "it@acme.pl"',
        ),
        (
            second('addresses = ["Jan Nowak"]'),
            'contract #2 (id "acme-vip"): addresses: expected a list of e-mail addresses, '
            'got "Jan Nowak" in it',
        ),
        (
            second('domains = ["@acme.pl"]'),
            'contract #2 (id "acme-vip"): domains: expected a list of domain names',
        ),
        (second("domains = [1]"), 'contract #2 (id "acme-vip"): domains: expected a list of'),
        (
            second('language = "de"'),
            'contract #2 (id "acme-vip"): language: expected one of pl, en, got "de"',
        ),
        (
            second('colour = "red"'),
            'contract #2 (id "acme-vip"): colour: unknown key; expected one of id, customer',
        ),
        (
            second("valid_until = 2024-12-31"),
            'contract #2 (id "acme-vip"): valid_until: 2024-12-31 is before valid_from 2025-01-01',
        ),
        (
            second('id = "first"'),
            'contract #2 (id "first"): id: duplicate id "first", already used by contract #1',
        ),
        ('[contract]\nid = "x"\n', "contract: expected [[contract]] tables, got a table"),
        ("contract = [1]\n", "contract: expected [[contract]] tables, got a list"),
        ("version = 2\n" + CONTRACT, "version: unknown key; expected [[contract]] tables"),
        ("[[contract]\n", "not valid TOML"),
    ],
)
def test_toml_problems(tmp_path: Path, text: str, expected: str) -> None:
    assert load_error(tmp_path, text).startswith(expected)


HEADER = "id,customer,tier,addresses,domains,valid_from,valid_until\n"
FIRST_ROW = "first,Pierwsza,vip,,pierwsza.pl,2025-01-01,\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HEADER + FIRST_ROW + "acme,ACME,vip,,acme.pl,2025-01-01,soon\n",
            'row 3 (id "acme"): valid_until: expected a date like 2026-12-31, got "soon"',
        ),
        (
            HEADER + FIRST_ROW + "acme,ACME,vip,,acme.pl,1.1.2025,\n",
            'row 3 (id "acme"): valid_from: expected a date like 2026-12-31, got "1.1.2025"',
        ),
        (HEADER + FIRST_ROW + "acme,ACME,vip,,acme.pl,,\n", 'row 3 (id "acme"): valid_from: miss'),
        (HEADER + ",ACME,vip,,acme.pl,2025-01-01,\n", "row 2: id: missing"),
        (
            HEADER + "acme,ACME,vip,jan nowak@acme.pl,,2025-01-01,\n",
            'row 2 (id "acme"): addresses: expected a list of e-mail addresses, got "jan" in it',
        ),
        (HEADER + "acme,ACME,gold,,acme.pl,2025-01-01,\n", 'row 2 (id "acme"): tier: expected'),
        (
            HEADER + FIRST_ROW + FIRST_ROW,
            'row 3 (id "first"): id: duplicate id "first", already used by row 2',
        ),
        (
            HEADER + "acme,ACME,vip,,acme.pl,2025-01-01,2024-01-01\n",
            'row 2 (id "acme"): valid_until: 2024-01-01 is before valid_from 2025-01-01',
        ),
        (HEADER + FIRST_ROW + "a,b,vip,,x.pl,2025-01-01,,extra\n", "row 3: more values than"),
        ("id,customer,colour\n", 'column "colour": unknown column; expected id, customer'),
        ("id,customer,id\n", 'column "id": appears twice'),
    ],
)
def test_csv_problems(tmp_path: Path, text: str, expected: str) -> None:
    assert load_error(tmp_path, text, "contracts.csv").startswith(expected)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "contracts.toml"

    with pytest.raises(ConfigError, match=re.escape(f"{path}: cannot read the contracts file")):
        load_contracts_file(path)


# --- billing keys (issue 6) -----------------------------------------------------------


def test_amounts_are_exact_decimals(tmp_path: Path) -> None:
    # 290.10 as a TOML float would be 290.09999999999999431566... through a binary float.
    text = second("monthly_fee = 290.10", 'hourly_rate = "99.99"', "package_hours = 3")
    contract = load_contracts_file(write(tmp_path, text))[1]
    assert contract.monthly_fee == Decimal("290.10")
    assert str(contract.monthly_fee) == "290.10"
    assert contract.hourly_rate == Decimal("99.99")
    assert contract.package_hours == Decimal(3)


def test_billing_defaults(tmp_path: Path) -> None:
    contract = load_contracts_file(write(tmp_path, CONTRACT))[0]
    assert (contract.monthly_fee, contract.hourly_rate) == (None, None)
    assert (contract.package_hours, contract.free_unjustified) == (Decimal(2), 4)
    assert (contract.ip_allowlist, contract.procedures, contract.nip) == ((), "", "")


def test_procedures_from_a_file_beside_the_contracts_file(tmp_path: Path) -> None:
    (tmp_path / "acme.md").write_text("# ACME\nRestart the VPN first.\n", encoding="utf-8")
    contract = load_contracts_file(write(tmp_path, second('procedures = "acme.md"')))[1]
    assert contract.procedures == "# ACME\nRestart the VPN first."
    plain = load_contracts_file(write(tmp_path, second('procedures = "Call Jan first"')))[1]
    assert plain.procedures == "Call Jan first"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("monthly_fee = 289.99", "monthly_fee: a VIP fee is at least 290 PLN net, got 289.99"),
        ('monthly_fee = "abc"', 'monthly_fee: expected an amount like "120" or "120.50"'),
        ("monthly_fee = -300", "monthly_fee: expected an amount"),
        ("monthly_fee = true", "monthly_fee: expected an amount"),
        ("monthly_fee = 300.001", "monthly_fee: expected whole grosz"),
        ('hourly_rate = "nan"', "hourly_rate: expected an amount"),
        ("package_hours = 1000", "package_hours: expected hours a month can hold"),
        ("free_unjustified = 2.5", "free_unjustified: expected a whole number like 4"),
        ("free_unjustified = -1", "free_unjustified: expected a whole number like 4"),
        ('ip_allowlist = ["10.0.0.300"]', "ip_allowlist: expected a list of IP addresses"),
        ('ip_allowlist = "10.0.0.1"', "ip_allowlist: expected a list of IP addresses"),
        ('billing_email = "faktury"', 'billing_email: expected an e-mail address, got "faktury"'),
        ('procedures = "missing.txt"', "procedures: no such file: "),
        ("nip = 123", "nip: expected a non-empty string, got 123"),
    ],
)
def test_billing_problems(tmp_path: Path, line: str, expected: str) -> None:
    message = load_error(tmp_path, second(line))
    assert message.startswith(f'contract #2 (id "acme-vip"): {expected}'), message


def test_only_vip_contracts_have_a_fee(tmp_path: Path) -> None:
    message = load_error(tmp_path, second('tier = "warranty"', "monthly_fee = 500"))
    assert message.startswith('contract #2 (id "acme-vip"): monthly_fee: only a VIP contract')


def test_a_bad_csv_amount_names_the_row(tmp_path: Path) -> None:
    text = HEADER.replace("\n", ",monthly_fee\n") + FIRST_ROW.replace("\n", ",\n")
    text += "acme,ACME,vip,,acme.pl,2025-01-01,,12.5.0\n"
    message = load_error(tmp_path, text, "contracts.csv")
    assert message.startswith('row 3 (id "acme"): monthly_fee: expected an amount like')


# --- require_authentication (issue 5) ---------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("require_authentication = true", True),
        ("require_authentication = false", False),
        ("", None),
    ],
)
def test_require_authentication_in_toml(tmp_path: Path, line: str, expected: bool | None) -> None:
    text = second('tier = "warranty"', line)
    assert load_contracts_file(write(tmp_path, text))[1].require_authentication is expected


def test_require_authentication_in_csv(tmp_path: Path) -> None:
    text = HEADER.replace("\n", ",require_authentication\n")
    for number, cell in enumerate(["true", "FALSE", "yes", "no", "1", "0", ""]):
        text += f"c{number},C,warranty,,c{number}.pl,2025-01-01,,{cell}\n"
    contracts = load_contracts_file(write(tmp_path, text, "contracts.csv"))
    got = [contract.require_authentication for contract in contracts]
    assert got == [True, False, True, False, True, False, None]


@pytest.mark.parametrize("value", ['"yes"', "1", '"true"'])
def test_a_toml_require_authentication_must_be_true_or_false(tmp_path: Path, value: str) -> None:
    message = load_error(tmp_path, second(f"require_authentication = {value}"))
    assert message == (
        f'contract #2 (id "acme-vip"): require_authentication: expected true or false, got {value}'
    )


def test_a_csv_require_authentication_must_be_a_yes_or_no(tmp_path: Path) -> None:
    text = HEADER.replace("\n", ",require_authentication\n") + FIRST_ROW.replace("\n", ",maybe\n")
    message = load_error(tmp_path, text, "contracts.csv")
    assert (
        message == 'row 2 (id "first"): require_authentication: expected true or false, got "maybe"'
    )


def test_require_authentication_is_set_and_unset_like_a_csv_cell(tmp_path: Path) -> None:
    [contract] = load_contracts_file(write(tmp_path, CONTRACT))
    off = changed_contract(contract, "require_authentication", "false", base=tmp_path)
    assert off.require_authentication is False
    assert contract_fields(off)["require_authentication"] is False  # shown, though falsy
    unset = changed_contract(off, "require_authentication", "", base=tmp_path)
    assert unset.require_authentication is None
    assert "require_authentication" not in contract_fields(unset)
    with pytest.raises(
        ValueError, match='require_authentication: expected true or false, got "on"'
    ):
        changed_contract(contract, "require_authentication", "on", base=tmp_path)
