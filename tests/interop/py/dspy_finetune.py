"""DSPy's BootstrapFinetune trained through agentgate, with no manual step.

The program's LM is `openai/agent:<system>/<agent>` on agentgate's data plane (a `proxy` key):
DSPy bootstraps traces by running the program, then its OpenAIProvider uploads the traces and
creates the fine-tune job with the module-level `openai` client — i.e. with OPENAI_BASE_URL and
OPENAI_API_KEY, which point at agentgate (a `write` key). agentgate stores the file as a dataset,
forwards the job to its trainer, and registers the result as a new version of the agent; the
compiled program then calls that version by the model string the job returned.

Environment: AGENTGATE_BASE_URL, AGENTGATE_PROXY_KEY, AGENTGATE_AGENT (system/agent),
OPENAI_BASE_URL, OPENAI_API_KEY, DSPY_FINETUNEDIR.
"""

import dspy

from interop import emit, env

BASE_URL = env("AGENTGATE_BASE_URL")
KEY = env("AGENTGATE_PROXY_KEY")
AGENT = env("AGENTGATE_AGENT")
env("OPENAI_BASE_URL")
env("OPENAI_API_KEY")
env("DSPY_FINETUNEDIR")


def main():
    # cache=False: every call reaches agentgate (and so is routed and recorded).
    lm = dspy.LM(f"openai/agent:{AGENT}", api_base=BASE_URL, api_key=KEY, cache=False, num_retries=0)
    program = dspy.Predict("question -> answer")
    program.set_lm(lm)
    trainset = [
        dspy.Example(question=f"What is {i} plus {i}?", answer=str(2 * i)).with_inputs("question")
        for i in range(12)
    ]
    optimizer = dspy.BootstrapFinetune(num_threads=1)
    compiled = optimizer.compile(program, trainset=trainset)
    tuned = compiled.get_lm()
    prediction = compiled(question="What is 21 plus 21?")
    response = tuned.history[-1]["response"]
    headers = response._hidden_params.get("additional_headers", {})
    emit(
        {
            "dspy_version": dspy.__version__,
            "base_model": lm.model,
            "tuned_model": tuned.model,
            "answer": prediction.answer,
            "served_version": headers.get("llm_provider-x-agentgate-version"),
            "route": headers.get("llm_provider-x-agentgate-route"),
        }
    )


if __name__ == "__main__":
    main()
