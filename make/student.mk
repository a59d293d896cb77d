# The student edition (tools/student_edition.py): lectures, exercises (the nbgrader release), the genlib
# wheel with its weights and tables, a student README and requirements without the instructor's tools.
# No solutions, tests or tools. Publish dist/student.zip, or the folder as a branch for nbgitpuller.
.PHONY: student
student: $(STAMP) ## build the student edition: dist/student/ and dist/student.zip (no solutions, tests, tools)
	@$(PY) -m tools.student_edition $(ARGS)
