"""JupyterLab for the student: start it from this folder with

    jupyter lab --config=jupyter_server_config.py

(Jupyter does not read a config file from the current folder by itself, hence --config.)
What it sets, and why:

- the course map (COURSE_MAP.md, rendered) is the first page, and the file browser shows
  this folder whichever folder the command was started from;
- one kernel, the course's "Python 3 (genlib)", started by itself when a notebook opens: no
  kernel-choice dialog. The one registered in step 2 of the README when there is one (it names
  its environment's Python), else .jupyter/kernels/genlib (the Python that runs JupyterLab);
- no instructor tools: nbgrader's server extensions off here, its JupyterLab panels and
  menus off in .jupyter/lab/settings/page_config.json (if nbgrader is installed at all);
- nothing goes online: no news prompt, no update check (.jupyter/lab/settings/overrides.json,
  and no news feed or update check on the server side either), no Extension Manager.

Your own JupyterLab settings (Settings > Settings Editor) still apply on top of these.
"""
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager

HERE = Path(__file__).resolve().parent
COURSE_KERNEL = "genlib"


class CourseKernelSpecs(KernelSpecManager):
    """The installed kernels, then this folder's course kernel (used when none is registered)."""

    def _kernel_dirs_default(self):
        return [*super()._kernel_dirs_default(), str(HERE / ".jupyter" / "kernels")]


c = get_config()  # noqa: F821 (provided by Jupyter when it loads this file)

# The first page: the course map, in this folder.
c.ServerApp.root_dir = str(HERE)
c.ServerApp.default_url = c.LabApp.default_url = "/lab/tree/COURSE_MAP.md"

# One kernel, the course's, preselected.
c.ServerApp.kernel_spec_manager_class = CourseKernelSpecs
c.KernelSpecManager.allowed_kernelspecs = {COURSE_KERNEL}
c.MultiKernelManager.default_kernel_name = COURSE_KERNEL

# No instructor tools: nbgrader's server extensions (its lab extension: page_config.json).
c.ServerApp.jpserver_extensions = {
    "nbgrader.server_extensions.formgrader": False,
    "nbgrader.server_extensions.assignment_list": False,
    "nbgrader.server_extensions.course_list": False,
    "nbgrader.server_extensions.validate_assignment": False,
}

# Lab settings defaults for this course: overrides.json and page_config.json.
c.LabApp.app_settings_dir = str(HERE / ".jupyter" / "lab" / "settings")

# Nothing goes online (the Extension Manager, which searches PyPI, is off in page_config.json).
c.LabApp.news_url = None
c.LabApp.extension_manager = "readonly"
c.LabApp.check_for_updates_class = "jupyterlab.handlers.announcements.NeverCheckForUpdate"
