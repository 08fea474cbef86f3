"""Sample texts per script, for token-count tests and benchmarks."""

# ruff: noqa: RUF001 (full-width CJK punctuation is the point)

PROSE = (
    "The quick brown fox jumps over the lazy dog while the farmer watches from the porch. "
    "Small language models answer quickly, cost little and run on modest hardware. "
) * 3
CJK = "今天天气很好，我们一起去公园散步吧。小型语言模型回答迅速，成本低廉。" * 4
JAPANESE = "今日はとても良い天気ですね。公園を散歩しましょう。小さな言語モデルは速いです。" * 4
KOREAN = "오늘은 날씨가 정말 좋네요. 공원에서 산책합시다. 작은 언어 모델은 빠릅니다." * 4
CODE = 'def f(x):\n    return {"a": [i * 2 for i in range(x) if i % 3 == 0]}\n' * 4
JSON_TEXT = (
    '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}, '
    '"result": {"temp": 21.5, "sky": "clear", "wind": [3, 5, 8]}}'
) * 3
