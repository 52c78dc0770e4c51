"""Learn: guided lessons, each a short explanation plus a preset comparison that runs in about a minute."""
import streamlit as st

from bench.lessons import LESSONS
from ui import lessons
from ui.common import store

s = store()
st.title("Learn")
n = len(LESSONS)
st.markdown(f"{lessons.count_words(n)} short lesson{'s' if n != 1 else ''} on continual learning. Each runs a small "
            "preset comparison in the background (about a minute on a laptop CPU) and shows its charts here; runs "
            "already in your store are reused.")
by_key = {lesson.key: lesson for lesson in LESSONS}
wanted = st.query_params.get("lesson")
st.session_state["learn.lesson"] = wanted if wanted in by_key else LESSONS[0].key
key = st.radio("Lesson", list(by_key), format_func=lambda k: by_key[k].title, horizontal=True,
               key="learn.lesson", on_change=lambda: st.query_params.update(lesson=st.session_state["learn.lesson"]))
lesson = by_key[key]
st.header(lesson.title)
st.caption(lesson.summary)
lessons.render(s, lesson)
