-- Issue 12: finding the reference autopkgtest results of a source package in a suite on an
-- architecture (regression tracking) without scanning every stored result.
CREATE INDEX work_request_results_autopkgtest
    ON work_request_results ((result->>'package'), (result->>'suite'), (result->>'architecture'))
    WHERE kind = 'debian/autopkgtest';
