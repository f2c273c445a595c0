# Headless Chromium and chromedriver for the dashboard's browser tests
# (tests/it/browser/). Each test starts its own chromedriver on a free
# port and its own browser profile; this only installs them and says where
# they are.
# shellcheck shell=bash
apt_install chromium chromium-driver
export IDENTITY_OS_TEST_CHROMIUM=/usr/bin/chromium
export IDENTITY_OS_TEST_CHROMEDRIVER=/usr/bin/chromedriver
