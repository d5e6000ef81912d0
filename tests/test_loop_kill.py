"""kill -9 at random moments (during checkpoint writes too), restart, and compare.

Drives experiments/kill_resume.py with 5 kills: the run must resume every time
from the newest valid checkpoint (falling back past a truncated one) and end
with exactly the state of an uninterrupted run.
"""

from experiments import kill_resume


def test_five_kills_resume_to_the_uninterrupted_state(tmp_path):
    report = kill_resume.run(str(tmp_path), kills=5, corrupt_every=4, seed=1,
                             progress=lambda s: None, inline_reference=True)
    assert report["kills"] == 5, report
    assert report["truncated_checkpoints"] == 1 and report["fallbacks"] >= 1, report
    assert report["all_resumes_ok"], report
    assert report["final_returncode"] == 0, report["final_log_tail"]
    assert report["final_step"] == report["requested_steps"]
    assert report["final_state_identical_to_uninterrupted_run"]
    assert report["max_steps_lost"] <= 2, report["records"]  # checkpoint every step
