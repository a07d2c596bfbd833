"""The library's face: a fast, dependency-free ``import kard_hf`` with lazy exports, model types known to the
Auto classes, and teachers found through a registry (so the core never names the bundled benchmark)."""

import subprocess
import sys
from importlib.metadata import EntryPoint

import pytest

import kard_hf
from kard_hf.errors import ConfigError
from kard_hf.teacher.commands import TeacherArguments, build_teacher, find_teacher


def test_import_kard_hf_loads_neither_the_demo_nor_torch():
    code = ("import sys, kard_hf; heavy = sorted(m for m in sys.modules if m.startswith(('kard_hf.', 'torch', "
            "'transformers', 'datasets', 'countryinfo')) and m != 'kard_hf.version'); print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_every_export_resolves_to_its_class():
    for name in kard_hf.__all__:
        assert getattr(kard_hf, name) is not None, name
    from kard_hf.inference.pipeline import KARDPipeline

    assert kard_hf.KARDPipeline is KARDPipeline and "StudentTrainer" in dir(kard_hf)
    with pytest.raises(AttributeError):
        kard_hf.NoSuchThing


def test_auto_classes_know_every_kard_hf_model_type():
    code = ("import kard_hf.knife, kard_hf.reranker; from transformers import AutoConfig, AutoModel, AutoModelForMultipleChoice; "
            "r = AutoConfig.for_model('kard_reranker'); k = AutoConfig.for_model('knife_t5', d_model=8, num_heads=1, "
            "d_kv=8, d_ff=8, num_layers=1, vocab_size=10); "
            "b = AutoConfig.for_model('knife_bart', d_model=8, encoder_layers=1, decoder_layers=1, "
            "encoder_attention_heads=1, decoder_attention_heads=1, encoder_ffn_dim=8, decoder_ffn_dim=8, vocab_size=10); "
            "print(type(r).__name__, *(f'{type(c).__name__} {AutoModelForMultipleChoice.from_config(c).__class__.__name__}' "
            "for c in (k, b)))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["KardRerankerConfig", "KnifeT5Config", "KnifeT5ForMultipleChoice", "KnifeBartConfig",
                           "KnifeBartForMultipleChoice"]


def test_teachers_are_found_by_entry_point_or_module_path(monkeypatch):
    assert find_teacher("kard_hf.benchmark.teacher:BenchmarkTeacher").__name__ == "BenchmarkTeacher"
    point = EntryPoint("mine", "kard_hf.benchmark.teacher:BenchmarkTeacher", "kard_hf.teachers")
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: [point] if group == "kard_hf.teachers" else [])
    teacher = build_teacher(TeacherArguments(teacher="mine"))
    assert type(teacher).__name__ == "BenchmarkTeacher"
    with pytest.raises(ConfigError, match="unknown teacher 'nope'; expected openai, transformers, mine"):
        find_teacher("nope")
    with pytest.raises(ConfigError, match="not a kard_hf.teacher.Teacher subclass"):
        find_teacher("kard_hf.errors:ConfigError")
    with pytest.raises(ConfigError, match="cannot import the teacher"):
        find_teacher("kard_hf.no_such_module:Teacher")
    with pytest.raises(ConfigError, match="--model is required for --teacher openai"):
        TeacherArguments(teacher="openai")


def test_every_command_but_quickstart_loads_without_the_benchmarks_dependencies():
    code = """
import importlib.abc, sys
class NoDemo(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] == 'countryinfo':
            raise ImportError('countryinfo is not installed')
sys.meta_path.insert(0, NoDemo())
from kard_hf.cli import COMMANDS
for name, command in COMMANDS.items():
    if name != 'quickstart':
        command.load(command.parser)(), command.load(command.run)
print(sorted(m for m in sys.modules if m.startswith('kard_hf.benchmark')))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
