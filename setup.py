from setuptools import find_packages, setup

setup(
    name='losa_plugin',
    version='0.1.0',
    description='LoSA (Long-Short-range Adapter) for end-to-end temporal action localization, an MMAction2 plugin',
    packages=find_packages(include=['losa_plugin', 'losa_plugin.*']),
    python_requires='>=3.9',
    # The pinned stack lives in requirements/ and is installed by tools/setup_env.sh.
    install_requires=[],
)
