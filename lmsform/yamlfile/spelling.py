"""ruamel.yaml, read as a manifest means it: numbers that keep the spelling they were written
with where a float would not read back the same, timestamps as text, keys as text, no tags
but the plain ones, every duplicate key refused."""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import (
    BaseConstructor,
    ConstructorError,
    DuplicateKeyError,
    SafeConstructor,
)
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode
from ruamel.yaml.resolver import VersionedResolver


class _FixedVersionResolver(VersionedResolver):
    """Always YAML 1.2: ruamel otherwise looks the version up, through an exception, per scalar."""

    @property
    def processing_version(self) -> Any:
        return (1, 2)


YAML_TAG = "tag:yaml.org,2002:"


STR_TAG, NULL_TAG = YAML_TAG + "str", YAML_TAG + "null"


# The tags whose text the resolver also reads without a tag: a value tagged with one must be
# written as such a value (`!!int 12`, not `!!int twelve`, which ruamel would crash on); a
# float may be written as an integer (`!!float 20`, as lmsform's export writes amounts).
IMPLICIT_TAGS = frozenset(YAML_TAG + t for t in ("int", "float", "bool", "null", "timestamp"))


FITTING = {tag: {tag} for tag in IMPLICIT_TAGS} | {
    YAML_TAG + "float": {YAML_TAG + "float", YAML_TAG + "int"}}


# Every tag lmsform reads: those, text, lists and mappings. !!binary, !!set, !!omap, !!pairs
# and local or global tags of other vocabularies mean nothing in a manifest, and would be read
# as bytes, sets or tuples that are no JSON.
READ_TAGS = IMPLICIT_TAGS | {STR_TAG, YAML_TAG + "seq", YAML_TAG + "map"}


class _SpellingConstructor(SafeConstructor):
    """Numbers that do not read back as written (leading zeros, trailing zeros after the
    point) are kept as the text written; so are dates that do not exist, for the schema to
    refuse with their position.

    Keys are text, as in JSON: a number, boolean or date written as a key is its text as
    written (`1.50`, `true`); a null or empty key, a list or a mapping as a key, and a key
    written twice are refused with their position, naming the key but never a value."""

    def construct_yaml_int(self, node: ScalarNode) -> Any:
        value = super().construct_yaml_int(node)
        return value if str(value) == node.value.replace("_", "") else node.value

    def construct_yaml_float(self, node: ScalarNode) -> Any:
        value = super().construct_yaml_float(node)
        return value if _reads_back(value, node.value) else node.value

    def construct_yaml_timestamp(self, node: ScalarNode, values: Any = None) -> Any:
        try:
            return super().construct_yaml_timestamp(node, values)
        except (ValueError, OverflowError):
            return node.value

    def construct_mapping(self, node: Node, deep: bool = False) -> Any:
        if isinstance(node, MappingNode):
            self.flatten_mapping(node)
            for index, (key, value) in enumerate(node.value):
                if type(key) is not ScalarNode or key.tag != STR_TAG:
                    node.value[index] = (self._text_key(key), value)
        return BaseConstructor.construct_mapping(self, node, deep=deep)

    def _text_key(self, key: Node) -> Node:
        """A key as the text written, or refused; a copy, since an alias may share the node
        as a value (where `1` stays a number)."""
        if not isinstance(key, ScalarNode):
            raise _refused("a list or a mapping as a key: lmsform reads keys that are text",
                           key)
        if key.tag == NULL_TAG:
            raise _refused("an empty or null key: lmsform reads keys that are text", key)
        if key.tag in IMPLICIT_TAGS and _implied(self, key) == key.tag:
            return ScalarNode(STR_TAG, key.value, key.start_mark, key.end_mark,
                              style=key.style)
        return key  # another tag: constructed (or refused) as tagged

    def check_mapping_key(self, node: MappingNode, key_node: Node, mapping: Any, key: Any,
                          value: Any) -> bool:
        """ruamel's message quotes both values, which may be secrets: this one names the key
        and where it was first written."""
        if key not in mapping:
            return True
        first = next(k for k, _ in node.value if k is key_node
                     or (isinstance(k, ScalarNode) and k.value == key_node.value))
        line, column = first.start_mark.line + 1, first.start_mark.column + 1
        raise DuplicateKeyError(None, None, f'duplicate key "{key}" (first written at line '
                                f"{line}, column {column})", key_node.start_mark)


_SpellingConstructor.add_constructor("tag:yaml.org,2002:int",
                                     _SpellingConstructor.construct_yaml_int)
_SpellingConstructor.add_constructor("tag:yaml.org,2002:float",
                                     _SpellingConstructor.construct_yaml_float)
_SpellingConstructor.add_constructor("tag:yaml.org,2002:timestamp",
                                     _SpellingConstructor.construct_yaml_timestamp)


class _TagConstructor(_SpellingConstructor):
    """For a file that writes a tag (only such a file can hold a node of another tag, or a
    value its tag does not fit): every node's tag is one lmsform reads, and a tagged value
    is written as what its tag says, or the node is refused with its position."""

    def construct_non_recursive_object(self, node: Node, tag: str | None = None) -> Any:
        written: str = tag if tag is not None else str(node.tag)
        if written not in READ_TAGS:
            raise _refused(f"the tag {_short(written)}: lmsform reads text, numbers, "
                           "booleans, nulls, dates, lists and mappings", node)
        if isinstance(node, ScalarNode) and written in IMPLICIT_TAGS \
                and _implied(self, node) not in FITTING[written]:
            raise _refused(f"a value that is not written as its tag {_short(written)} says",
                           node)
        return super().construct_non_recursive_object(node, tag)


def _implied(constructor: SafeConstructor, node: ScalarNode) -> str:
    """The tag the resolver gives the node's text written plain, without a tag."""
    return str(constructor.resolver.resolve(ScalarNode, node.value, (True, False)))


def _short(tag: str) -> str:
    return "!!" + tag[len(YAML_TAG):] if tag.startswith(YAML_TAG) else tag


def _refused(problem: str, node: Node) -> ConstructorError:
    return ConstructorError(None, None, problem, node.start_mark)


def _reads_back(value: float, text: str) -> bool:
    return text.lower().lstrip("+") in {repr(value), str(value)} or value != value \
        or value in (float("inf"), float("-inf"))


def _int(text: str) -> int | str:
    """A number keeps its spelling unless it reads back as written (as the full loader)."""
    value = int(text)
    return value if str(value) == text else text


def _float(text: str) -> float | str:
    value = float(text)
    return value if _reads_back(value, text) else text


def _yaml(tags: bool = False) -> YAML:
    """The full loader; `tags` where the file writes a tag (see `_TagConstructor`)."""
    yaml = YAML(typ="safe")
    yaml.Resolver = _FixedVersionResolver
    yaml.Constructor = _TagConstructor if tags else _SpellingConstructor
    return yaml
