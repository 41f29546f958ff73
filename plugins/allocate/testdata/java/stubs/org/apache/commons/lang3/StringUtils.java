package org.apache.commons.lang3;

// Stub of the one commons-lang3 method the strategies use.
public class StringUtils {
    public static boolean isEmpty(CharSequence cs) {
        return cs == null || cs.length() == 0;
    }
}
