"""The modeling code an exported folder carries for a model no ``transformers`` class computes
(``AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)``).

These two files are copied into the folder as they are, beside gptlab's own model source
(``gptlab_gpt.py``, ``gptlab_attention.py``, ``gptlab_config.py``, ``gptlab_errors.py``, their
imports made relative), so the
folder loads where gptlab is not installed. They import nothing of gptlab's but those copies.
"""
