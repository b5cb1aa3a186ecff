<?php echo "n2d-probe-php ", PHP_VERSION, "\n";
